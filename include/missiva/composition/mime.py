"""Build the exact e-mail bytes that are archived and then sent."""

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, getaddresses

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str) -> str:
    """Collapse control characters (CR, LF, ...) so data can never add a header line."""
    return _CONTROL.sub(" ", value).strip()


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
    local, _, domain = to_address.rpartition("@")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(header_safe(sender_name), addr_spec=sender_addr)
    if reply_to:
        msg["Reply-To"] = Address(addr_spec=reply_to)
    msg["To"] = Address(header_safe(to_name), local, domain)
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
