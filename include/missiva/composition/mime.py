"""Build the exact e-mail bytes that are archived and then sent.

The ``To:`` header is written here, not by the ``email`` package: CPython (3.11 up to
at least 3.13) drops the quotes of a long quoted display name when it folds the line,
so ``"Rossi, attacker@evil.example, di Sopra" <mario@example.org>`` came out as three
recipients. An ASCII name with specials stays one quoted string (folded only at its
spaces); a non-ASCII name goes out as RFC 2047 base64 encoded-words, which carry no
comma, ``@`` or quote a parser could split on.
"""

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from email import base64mime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr, getaddresses

from missiva.text_safety import collapse_unsafe

_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")  # RFC 5322 atext words
_CHUNK_BYTES = 45  # UTF-8 bytes per encoded-word: 72 characters once in base64


def header_safe(value: str) -> str:
    """Collapse control characters (CR, LF, ...) and bidi overrides so data can never
    add a header line nor reorder what a reader sees."""
    return collapse_unsafe(value)


def _name_tokens(name: str) -> list[str]:
    """The display name as header tokens: atoms, a quoted string (ASCII with specials)
    split at its spaces, or base64 encoded-words of a few words each, each but the
    last ending with the space that follows it."""
    if _PLAIN_NAME.fullmatch(name):
        return name.split(" ")
    if name.isascii():
        return ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    chunks = [""]
    for word in re.findall(r"\S+\s*", name):
        if chunks[-1] and len((chunks[-1] + word).encode()) > _CHUNK_BYTES:
            chunks.append("")
        for char in word:  # a word longer than a chunk is cut between characters
            if len((chunks[-1] + char).encode()) > _CHUNK_BYTES:
                chunks.append("")
            chunks[-1] += char
    return [base64mime.header_encode(c.encode(), "utf-8") for c in chunks if c]


def recipient_header(name: str, address: str) -> str:
    """The ``To:`` value: ``name <address>``, folded only between tokens, lines of at
    most 78 characters: exactly one address for every parser."""
    name = " ".join(header_safe(name).split())
    lines, line = [], "To:"
    for token in [*(_name_tokens(name) if name else []), f"<{address}>"]:
        if len(line) + 1 + len(token) > 78 and line != "To:":
            lines.append(line)
            line = ""
        line = f"{line} {token}"
    return "\r\n".join([*lines, line]).removeprefix("To: ")


def communication_sender(default: str, declared: Mapping[str, str]) -> tuple[str, str | None]:
    """(From, Reply-To) of a communication: ``declared`` ``mailbox`` and ``reply_to`` are
    local parts at ``default``'s domain (``billing`` -> ``billing@missiva.example``) or
    whole addresses; From keeps ``default``'s display name. No declaration: ``default``."""
    ((name, address),) = getaddresses([default])
    domain = address.rpartition("@")[2]

    def at_domain(mailbox: str) -> str:
        return mailbox if "@" in mailbox else f"{mailbox}@{domain}"

    sender = default
    if declared.get("mailbox"):
        sender = formataddr((name, at_domain(declared["mailbox"])))
    reply_to = at_domain(declared["reply_to"]) if declared.get("reply_to") else None
    return sender, reply_to


def build_email(
    *,
    sender: str,
    reply_to: str | None = None,
    to_name: str,
    to_address: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    attachments: dict[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A multipart message (text + HTML alternative, PDF attachments) in wire format."""
    ((sender_name, sender_addr),) = getaddresses([sender])
    msg = EmailMessage(policy=SMTP if to_address.isascii() else SMTPUTF8)
    msg["From"] = Address(header_safe(sender_name), addr_spec=sender_addr)
    if reply_to:
        msg["Reply-To"] = Address(addr_spec=reply_to)
    msg.set_raw("To", recipient_header(to_name, to_address))  # as written: not refolded
    msg["Subject"] = header_safe(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = header_safe(value)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for filename, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    for number, part in enumerate(msg.walk()):  # stable boundaries: same input, same bytes
        if part.is_multipart():
            seed = f"{message_id}/{number}".encode()
            part.set_boundary(f"=_missiva_{hashlib.sha256(seed).hexdigest()[:32]}")
    return msg.as_bytes()
