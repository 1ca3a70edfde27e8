"""E-mail as a ``ChannelAdapter``: ``missiva.delivery.smtp_transport.SmtpSender``, with the
failure split.

The payload is the archived RFC 5322 message, sent as is to ``recipient`` (with
SMTPUTF8 for a non-ASCII local part; a server without it refuses it for good). SMTP's
own reply classes decide: 5xx for the recipient or the message -> ``PermanentFailure``;
4xx, or a lost connection before the data -> ``TransientFailure`` (the next send
reconnects); a connection lost after the data, before the server's reply ->
``OutcomeUnknown`` (a retry may duplicate: the outbox records ``review``); the server
refusing our envelope sender -> ``ChannelConfigurationError``. No retry loop here. The
Message-ID is deterministic, which lets receivers de-duplicate.
"""

import contextlib
import smtplib
from collections.abc import Mapping
from typing import Any, Self

from email_validator import EmailNotValidError, validate_email

from missiva.channels import registry
from missiva.channels.base import (
    ChannelConfigurationError,
    Delivery,
    OutcomeUnknown,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from missiva.delivery.smtp_transport import ReplyLost, SmtpSender, SmtpSettings
from missiva.text_safety import redact_contacts


def _reply(code: int, message: bytes | str, *recipients: str) -> str:
    """The server's reply, without the addresses servers echo (``<bob@...>: unknown``)."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return redact_contacts(f"{code} {text}", *recipients)


class SmtpAdapter:
    """``with SmtpAdapter(settings, sender): adapter.send(delivery)`` over one connection."""

    def __init__(self, settings: SmtpSettings, envelope_from: str) -> None:
        self.settings = settings
        self.envelope_from = envelope_from
        self._sender: SmtpSender | None = None
        self._open = False

    def __enter__(self) -> Self:
        self._open = True
        self._connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._open = False
        self._drop()

    def _connect(self) -> SmtpSender:
        sender = SmtpSender(self.settings)
        try:
            sender.__enter__()
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelConfigurationError(f"SMTP login refused: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"SMTP server unreachable: {exc}") from exc
        self._sender = sender
        return sender

    def _drop(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._sender.__exit__(None, None, None)
            self._sender = None

    def send(self, delivery: Delivery) -> SendResult:
        if not self._open:
            raise RuntimeError("SmtpAdapter is not open; use it as a context manager")
        sender = self._sender or self._connect()
        try:
            reply = sender.send(
                self.envelope_from, delivery.recipient, delivery.payload, delivery.handing_over
            )
        except ReplyLost as exc:
            self._drop()
            raise OutcomeUnknown(f"SMTP {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            failure = PermanentFailure if code >= 500 else TransientFailure
            reply = _reply(code, message, delivery.recipient)
            raise failure(f"recipient refused: {reply}", status=code) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentFailure(
                "the mail server does not offer SMTPUTF8, which the address's non-ASCII "
                "local part needs"
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code >= 500:
                raise ChannelConfigurationError(
                    f"envelope sender refused: {_reply(exc.smtp_code, exc.smtp_error)}",
                    status=exc.smtp_code,
                ) from exc
            raise TransientFailure(
                f"sender deferred: {_reply(exc.smtp_code, exc.smtp_error)}", status=exc.smtp_code
            ) from exc
        except smtplib.SMTPResponseException as exc:  # DATA and other replies
            failure = PermanentFailure if exc.smtp_code >= 500 else TransientFailure
            raise failure(
                f"message refused: {_reply(exc.smtp_code, exc.smtp_error)}", status=exc.smtp_code
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, timeout, reset
            self._drop()
            raise TransientFailure(f"SMTP connection lost: {exc}") from exc
        except BaseException:  # interrupted mid-transaction (e.g. the lease lost)
            sender.abort()
            self._sender = None
            raise
        return SendResult(reply)


def email_contact(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The customer's normalised e-mail address as SMTP carries it (a non-ASCII domain
    IDNA-encoded; a non-ASCII local part as is, for SMTPUTF8), or why there is none."""
    address = record.get("email")
    if not address:
        return None, "no e-mail address"
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return (
            None,
            f"invalid e-mail address ({redact_contacts(str(exc), address, *address.split('@'))})",
        )
    return valid.ascii_email or valid.normalized, None


def compose_email(request: registry.Rendering) -> registry.Rendered:
    """The RFC 5322 message: the e-mail renditions, the letter PDF attached if it has one."""
    from missiva.composition.mime import build_email, communication_sender
    from missiva.journey import Journey

    composer, communication, context = request.composer, request.communication, request.context
    letter = None
    if "letter_pdf" in composer.renditions(communication):
        letter = composer.render_letter(communication, context)
    email = composer.render_email(communication, context)
    comm_id = context["communication_id"]
    sender, reply_to = communication_sender(request.settings.sender, composer.sender(communication))
    message = build_email(
        sender=sender,
        reply_to=reply_to,
        to_name=f"{context['first_name']} {context['last_name']}",
        to_address=request.recipient,
        subject=email.subject,
        text=email.text,
        html=email.html,
        message_id=f"<{comm_id}@{request.settings.message_id_domain}>",
        date=request.date,
        attachments={Journey.attachment_name(communication): letter.pdf} if letter else {},
        headers={"X-Missiva-Communication-Id": comm_id},
    )
    blocks = {**(letter.provenance.blocks if letter else {}), **email.provenance.blocks}
    return registry.Rendered(message, email.provenance, blocks)


EMAIL = registry.register(
    registry.Channel(
        name="email",
        contact=email_contact,
        extension=".eml",
        content_type="message/rfc822",
        rendition="email_html",
        compose=compose_email,
        open_adapter=lambda opening: SmtpAdapter(opening.provider(), opening.settings.sender),
        needs_provider=True,
        resend_safe=False,  # the server may have accepted it before the worker died
        quiet_hours=True,
        carries_notice=True,
    )
)
