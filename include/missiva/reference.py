"""The reference a customer can read out: short, grouped, unambiguous, with a check.

``MSV-7K3F-Q9XD-2H``: nine characters derived from the communication id (SHA-256, Crockford's
base-32 alphabet: no I, L, O or U, so nothing reads as 1 or 0) and a Luhn mod-32 check
character that catches any single mistyped character and any swap of neighbours. Printed
on letters (never broken across lines) and stored in the ledger beside the id. 45 bits:
two communications may, rarely, share one, so a search by reference lists every match.
"""

import hashlib
import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "MSV"
DATA_CHARS = 9
_FORM_RE = re.compile(rf"^[{ALPHABET}]{{{DATA_CHARS + 1}}}$")
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _check_char(data: str) -> str:
    """Luhn mod N over ``ALPHABET`` (N = 32)."""
    total, factor = 0, 2
    for char in reversed(data):
        addend = factor * ALPHABET.index(char)
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return ALPHABET[(32 - total % 32) % 32]


def reference_code(communication_id: str) -> str:
    """The customer reference of a communication (pure function of its id)."""
    number = int.from_bytes(hashlib.sha256(communication_id.encode()).digest()[:8], "big")
    data = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(DATA_CHARS))
    code = data + _check_char(data)
    return f"{PREFIX}-{code[:4]}-{code[4:8]}-{code[8:]}"


def normalise(text: str) -> str | None:
    """A reference as typed or read out (any case, spaces or dashes, O for 0, I/L for 1)
    in its printed form, or None when it is not one (bad form or check character)."""
    compact = re.sub(r"[\s\-]", "", text.upper()).translate(_READ_AS)
    if compact.startswith(PREFIX):
        compact = compact[len(PREFIX) :]
    if not _FORM_RE.match(compact) or _check_char(compact[:-1]) != compact[-1]:
        return None
    return f"{PREFIX}-{compact[:4]}-{compact[4:8]}-{compact[8:]}"
