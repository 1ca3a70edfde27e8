"""Tests for the e-mail builder and the delivery adapters (real SMTP server, print folder)."""

from __future__ import annotations

import email
import json
import mailbox
import re
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from missiva import files
from missiva.channels.paper import drop_for_print
from missiva.composition.mime import build_email
from missiva.delivery.smtp_transport import SmtpSender, SmtpSettings
from missiva.devtools import smtp_sink

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CRLF_PAYLOAD = "\r\nBcc: victim@example.com"


def email_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "sender": "Missiva Assicurazioni <welcome@missiva.example>",
        "to_name": "Giulia Bianchi",
        "to_address": "giulia.bianchi@example.com",
        "subject": "Benvenuta in Missiva",
        "text": "Gentile Giulia,\nbenvenuta.\n.\nUna riga che inizia con un punto.\n",
        "html": "<p>Gentile Giulia,</p><p>benvenuta.</p>",
        "message_id": "<6f1c7a52-1111-5222-8333-944445555666@missiva.example>",
        "date": datetime(2026, 11, 3, 0, 0, tzinfo=UTC),
        "attachments": {"welcome-letter.pdf": PDF},
        "headers": {"X-Missiva-Communication-Id": "6f1c7a52-1111-5222-8333-944445555666"},
    }
    args.update(overrides)
    return args


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)


def body(msg: EmailMessage, subtype: str) -> str:
    """A body part's text with the wire format's CRLF line endings turned back into LF."""
    return msg.get_body((subtype,)).get_content().replace("\r\n", "\n")


# --- build_email --------------------------------------------------------------------


def test_build_email_structure() -> None:
    args = email_args()
    msg = parse(build_email(**args))
    assert msg.get_content_type() == "multipart/mixed"
    assert msg["Message-ID"] == args["message_id"]
    assert msg["From"].addresses[0].addr_spec == "welcome@missiva.example"
    assert msg["From"].addresses[0].display_name == "Missiva Assicurazioni"
    assert msg["To"].addresses[0].addr_spec == "giulia.bianchi@example.com"
    assert msg["To"].addresses[0].display_name == "Giulia Bianchi"
    assert msg["Subject"] == "Benvenuta in Missiva"
    assert msg["Date"].datetime == args["date"]
    assert msg["X-Missiva-Communication-Id"] == "6f1c7a52-1111-5222-8333-944445555666"

    alternative, attachment = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert body(msg, "plain") == args["text"]
    assert body(msg, "html").strip() == args["html"]

    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "welcome-letter.pdf"
    assert attachment.get_content() == PDF


def test_build_email_is_wire_format() -> None:
    """CRLF line endings only, no line over the SMTP limit: sent exactly as archived."""
    raw = build_email(**email_args(text="x" * 5000, html="<p>" + "y" * 5000 + "</p>"))
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_build_email_non_ascii_names_round_trip() -> None:
    msg = parse(build_email(**email_args(to_name="Ζωή Παπαδοπούλου", subject="Καλώς ήρθατε")))
    assert msg["To"].addresses[0].display_name == "Ζωή Παπαδοπούλου"
    assert msg["Subject"] == "Καλώς ήρθατε"


def test_build_email_is_deterministic() -> None:
    """Same inputs, same bytes: a past e-mail can be rebuilt and compared by hash."""
    assert build_email(**email_args()) == build_email(**email_args())


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Other"},
        {"message_id": "<other@missiva.example>"},
        {"attachments": {"welcome-letter.pdf": PDF + b"%"}},
    ],
)
def test_build_email_changes_with_its_inputs(overrides: dict[str, Any]) -> None:
    assert build_email(**email_args(**overrides)) != build_email(**email_args())


def test_boundaries_do_not_occur_in_the_content() -> None:
    msg = parse(build_email(**email_args()))
    boundaries = {p.get_boundary() for p in msg.walk() if p.is_multipart()}
    assert len(boundaries) == 2
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert not any(b.encode() in payload for b in boundaries)


@pytest.mark.parametrize(
    "overrides",
    [
        {"to_name": "Giulia" + CRLF_PAYLOAD},
        {"to_name": "Giulia\nBcc: victim@example.com"},
        {"to_name": "Giulia\rBcc: victim@example.com"},
        {"subject": "Welcome" + CRLF_PAYLOAD},
        {"subject": "Welcome\n\nbody injected"},
        {"headers": {"X-Missiva-Communication-Id": "abc" + CRLF_PAYLOAD}},
    ],
    ids=["name-crlf", "name-lf", "name-cr", "subject-crlf", "subject-body", "header"],
)
def test_crlf_in_data_cannot_add_headers(overrides: dict[str, Any]) -> None:
    raw = build_email(**email_args(**overrides))
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert "bcc" not in {k.lower() for k in msg}
    assert not re.search(rb"^bcc:", raw, re.IGNORECASE | re.MULTILINE)
    for name, value in msg.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    # the body was not taken over either
    assert body(msg, "plain") == email_args()["text"]
    assert msg.get_content_type() == "multipart/mixed"


@pytest.mark.parametrize(
    "sender",
    [
        '"Missiva\r\nBcc: victim@example.com" <welcome@missiva.example>',
        "Missiva\r\nBcc: victim@example.com <welcome@missiva.example>",
    ],
)
def test_crlf_in_sender_setting_is_refused_or_neutralised(sender: str) -> None:
    """The sender is configuration, not customer data: refusing it outright is fine."""
    try:
        raw = build_email(**email_args(sender=sender))
    except ValueError:
        return
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert msg["From"].addresses[0].addr_spec == "welcome@missiva.example"


def test_crlf_in_name_is_kept_as_text() -> None:
    msg = parse(build_email(**email_args(to_name="Giulia" + CRLF_PAYLOAD)))
    (address,) = msg["To"].addresses
    assert address.addr_spec == "giulia.bianchi@example.com"
    assert address.display_name == "Giulia Bcc: victim@example.com"


# --- SmtpSender against a real SMTP server --------------------------------------------


def settings_for(server) -> SmtpSettings:
    return SmtpSettings(host=server.host, port=server.port, timeout=10)


def test_message_arrives_byte_identical(smtp_server) -> None:
    raw = build_email(**email_args())
    with SmtpSender(settings_for(smtp_server)) as sender:
        reply = sender.send(
            "Missiva Assicurazioni <welcome@missiva.example>", "giulia.bianchi@example.com", raw
        )
    assert reply == "OK queued as Q00001"
    (received,) = smtp_server.handler.messages
    assert received.mail_from == "welcome@missiva.example"
    assert received.rcpt_tos == ("giulia.bianchi@example.com",)
    # smtplib dot-stuffs the body (the text has a line starting with '.') and the
    # server un-stuffs it; nothing else is touched because the bytes already use CRLF.
    assert received.content == raw


def test_one_connection_for_several_sends(smtp_server) -> None:
    raw = build_email(**email_args())
    with SmtpSender(settings_for(smtp_server)) as sender:
        for n in range(5):
            sender.send("welcome@missiva.example", f"customer{n}@example.com", raw)
    handler = smtp_server.handler
    assert len(handler.messages) == 5
    assert len(handler.sessions) == 1
    assert handler.ehlo_count == 1

    with SmtpSender(settings_for(smtp_server)) as sender:
        sender.send("welcome@missiva.example", "another@example.com", raw)
    assert len(handler.sessions) == 2
    assert handler.ehlo_count == 2


def test_refused_recipient_raises_and_the_connection_goes_on(smtp_server) -> None:
    smtp_server.handler.refuse.add("nobody@example.com")
    raw = build_email(**email_args())
    with SmtpSender(settings_for(smtp_server)) as sender:
        sender.send("welcome@missiva.example", "first@example.com", raw)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            sender.send("welcome@missiva.example", "nobody@example.com", raw)
        sender.send("welcome@missiva.example", "second@example.com", raw)
    ((code, reply),) = caught.value.recipients.values()
    assert (code, b"User unknown" in reply) == (550, True), reply
    handler = smtp_server.handler
    assert [m.rcpt_tos for m in handler.messages] == [
        ("first@example.com",),
        ("second@example.com",),
    ]
    assert len(handler.sessions) == 1


def test_temporary_data_failure_raises(smtp_server) -> None:
    smtp_server.handler.fail_data_after = 0
    raw = build_email(**email_args())
    with (
        SmtpSender(settings_for(smtp_server)) as sender,
        pytest.raises(smtplib.SMTPDataError) as caught,
    ):
        sender.send("welcome@missiva.example", "a@example.com", raw)
    assert caught.value.smtp_code == 451
    assert smtp_server.handler.messages == []


def test_send_outside_the_context_manager_is_refused() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        SmtpSender(SmtpSettings("127.0.0.1", 1)).send("a@example.com", "b@example.com", b"x")


def test_closed_port_raises_on_open(unused_port: int) -> None:
    with pytest.raises(OSError), SmtpSender(SmtpSettings("127.0.0.1", unused_port, timeout=5)):
        pass


def test_smtp_sink_stores_messages_in_a_maildir(tmp_path: Path, free_tcp_port: int) -> None:
    maildir = tmp_path / "mail" / "inbox"
    port = free_tcp_port
    controller = smtp_sink.start("127.0.0.1", port, maildir)
    try:
        with SmtpSender(SmtpSettings("127.0.0.1", port, timeout=10)) as sender:
            sender.send("welcome@missiva.example", "a@example.com", build_email(**email_args()))
    finally:
        controller.stop()
    (stored,) = list(mailbox.Maildir(maildir, factory=None))
    assert stored["Message-ID"] == email_args()["message_id"]


# --- the print folder ---------------------------------------------------------------

ADDRESS = "Giulia Bianchi\nVia Roma, 10\n00184 Roma\nIT"


def test_drop_for_print_writes_pdf_and_address(tmp_path: Path) -> None:
    folder = tmp_path / "print" / "onboarding" / "2026-11-02"
    target = drop_for_print(folder, "comm-1", PDF, ADDRESS)
    assert target == folder / "comm-1.pdf"
    assert target.read_bytes() == PDF
    assert json.loads((folder / "comm-1.json").read_text()) == {
        "address": ["Giulia Bianchi", "Via Roma, 10", "00184 Roma", "IT"]
    }
    assert sorted(p.name for p in folder.iterdir()) == ["comm-1.json", "comm-1.pdf"]


def test_drop_for_print_is_idempotent(tmp_path: Path) -> None:
    first = drop_for_print(tmp_path, "comm-1", PDF, ADDRESS)
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = drop_for_print(tmp_path, "comm-1", PDF, ADDRESS)
    assert first == second
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot


def test_drop_for_print_never_leaves_a_partial_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that dies before the rename leaves the previous file whole."""
    drop_for_print(tmp_path, "comm-1", PDF, ADDRESS)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(files.os, "replace", crash)  # the rename of files.write_atomic
    with pytest.raises(OSError, match="disk gone"):
        drop_for_print(tmp_path, "comm-1", b"%PDF-1.7 a different, newer letter", ADDRESS)
    assert (tmp_path / "comm-1.pdf").read_bytes() == PDF


COMMA_NAME = "Mario Rossi della Valle, attacker@evil.example, di Sopra"


@pytest.mark.parametrize(
    "name",
    [
        COMMA_NAME,
        COMMA_NAME + " e di Sotto e di Lato di Nuovo",  # long enough to be folded
        'Anna "Nina", <nina@evil.example>; Bianchi \\',
        "Mariò Rossi, attacker@evil.example, " + "di Sopra " * 8,
    ],
    ids=["comma", "comma-folded", "quotes-brackets", "non-ascii"],
)
def test_the_recipient_header_holds_exactly_one_address(name: str) -> None:
    """CPython unquotes a long quoted display name when it folds it (three recipients);
    the header written by ``build_email`` parses to the one address, whatever the name."""
    raw = build_email(**email_args(to_name=name, to_address="mario@example.org"))
    (address,) = parse(raw)["To"].addresses
    assert address.addr_spec == "mario@example.org"
    assert " ".join(address.display_name.split()) == " ".join(name.split())
    header = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))  # never refolded


def test_bidi_overrides_never_reach_a_header() -> None:
    raw = build_email(
        **email_args(to_name="Anna \u202egnp.exe", subject="Benvenuta \u2066Anna\u2069")
    )
    msg = parse(raw)
    assert msg["Subject"] == "Benvenuta Anna"
    assert msg["To"].addresses[0].display_name == "Anna gnp.exe"
