"""Characters customer data may not carry into a header, an envelope or a print manifest.

Control characters (CR, LF, NUL, TAB and the other C0/C1 codes), Unicode line and
paragraph separators, and the bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069) that make text display in another order than it reads.
"""

import re
import unicodedata

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")
_BIDI = re.compile(f"[{_BIDI_CONTROLS}]")
_CONTROL_NAMES = {"\x00": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}


def unsafe_characters(text: str) -> list[str]:
    """The distinct unsafe characters of ``text``, named (``U+000A LINE FEED``...)."""
    if not UNSAFE.search(text):  # nearly every text: nothing more to do
        return []
    found = sorted(set(UNSAFE.findall(text)))
    names = (_CONTROL_NAMES.get(c) or unicodedata.name(c, "CONTROL CHARACTER") for c in found)
    return [f"U+{ord(c):04X} {name}" for c, name in zip(found, names, strict=True)]


def collapse_unsafe(text: str) -> str:
    """``text`` without bidi controls (they take no room) and with each run of the other
    unsafe characters replaced by one space, trimmed."""
    return re.sub(f"(?:{UNSAFE.pattern})+", " ", _BIDI.sub("", text)).strip()


REDACTED = "[redacted]"
_EMAIL_SHAPED = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_PHONE_SHAPED = re.compile(r"\+?\(?\d(?:[ ()-]{0,2}\d){6,}")


def redact_contacts(text: str, *values: str | None) -> str:
    """``text`` (a provider's reply, a validator's message: it ends in a failure reason,
    a log line or XCom) with each given value of 3+ characters (case-insensitive), every
    e-mail-shaped token and every phone-shaped run of 7+ digits replaced by ``[redacted]``."""
    for value in sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len)[::-1]:
        text = re.sub(re.escape(value), REDACTED, text, flags=re.IGNORECASE)
    return _PHONE_SHAPED.sub(REDACTED, _EMAIL_SHAPED.sub(REDACTED, text))
