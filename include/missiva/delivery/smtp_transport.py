"""SMTP e-mail over one reused connection."""

import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect. With ``connect`` (a callable returning a connected,
    logged-in ``smtplib.SMTP``, e.g. from the SMTP provider's hook) the other fields only
    name the server in messages; without it the sender connects from them itself."""

    host: str
    port: int
    use_ssl: bool = False
    starttls: bool = False
    user: str = ""
    password: str = ""
    timeout: int = 30
    connect: Callable[[], smtplib.SMTP] | None = None


class SmtpSender:
    """Sends pre-built messages over one SMTP connection (use as a context manager)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> "SmtpSender":
        s = self.settings
        if s.connect is not None:
            self._client = s.connect()
            return self
        if s.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
        if s.user:
            client.login(s.user, s.password)
        self._client = client
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except smtplib.SMTPException:
                self._client.close()
            self._client = None

    def abort(self) -> None:
        """Close the connection without QUIT (mid-transaction, a QUIT would be data):
        the server discards a message whose data did not end."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(
        self,
        envelope_from: str,
        recipient: str,
        message: bytes,
        handing_over: Callable[[], None] = lambda: None,
    ) -> str:
        """Send ``message`` as is; return the server's DATA reply (its queue id). An
        address with a non-ASCII local part goes with SMTPUTF8 (``SMTPNotSupportedError``
        when the server does not offer it). ``handing_over`` is called once the server
        is ready for the data, before any of it leaves; a connection lost after that
        raises :class:`ReplyLost`."""
        client = self._client
        if client is None:
            raise RuntimeError("SmtpSender is not open; use it as a context manager")
        client.ehlo_or_helo_if_needed()
        ascii_only = envelope_from.isascii() and recipient.isascii()
        code, reply = client.mail(envelope_from, () if ascii_only else ("SMTPUTF8",))
        if code != 250:
            client.rset()
            raise smtplib.SMTPSenderRefused(code, reply, envelope_from)
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            client.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = client.docmd("data")
        if code != 354:
            client.rset()
            raise smtplib.SMTPDataError(code, reply)
        handing_over()
        try:
            code, reply = _data(client, message)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise ReplyLost(f"connection lost after the data, before the reply: {exc}") from exc
        if code != 250:
            client.rset()
            raise smtplib.SMTPDataError(code, reply)
        return reply.decode(errors="replace")


class ReplyLost(smtplib.SMTPException):
    """The message went out but the server's reply to it never came back."""


def _data(client: smtplib.SMTP, message: bytes) -> tuple[int, bytes]:
    """The message after a 354, dot-stuffed and terminated (as ``SMTP.data`` sends it),
    and the server's reply."""
    stuffed = re.sub(rb"(?m)^\.", b"..", message)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    client.send(stuffed + b".\r\n")
    return client.getreply()
