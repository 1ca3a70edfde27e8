"""The SMTP adapter against the real in-process SMTP server of ``conftest.py``."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from missiva.channels import ChannelAdapter, Delivery, PermanentFailure, TransientFailure
from missiva.channels.smtp import SmtpAdapter
from missiva.composition.mime import build_email
from missiva.delivery.smtp_transport import SmtpSettings

SENDER = "welcome@missiva.example"


def mail(n: int, to: str = "") -> Delivery:
    to = to or f"customer{n}@example.com"
    payload = build_email(
        sender=f"Missiva <{SENDER}>",
        to_name=f"Customer {n}",
        to_address=to,
        subject="Benvenuto",
        text="Gentile cliente,\n.\nbenvenuto.\n",
        html="<p>Gentile cliente,</p>",
        message_id=f"<comm-{n}@missiva.example>",
        date=datetime(2026, 11, 3, tzinfo=UTC),
    )
    return Delivery(f"comm-{n}", f"key-{n}", to, payload, "message/rfc822")


def adapter(server) -> SmtpAdapter:
    return SmtpAdapter(SmtpSettings(host=server.host, port=server.port, timeout=5), SENDER)


def test_batch_over_one_connection(smtp_server) -> None:
    smtp = adapter(smtp_server)
    assert isinstance(smtp, ChannelAdapter)
    with smtp:
        results = [smtp.send(mail(n)) for n in range(1, 4)]
    assert [r.provider_message_id for r in results] == [
        f"OK queued as Q{n:05d}" for n in range(1, 4)
    ]
    received = smtp_server.handler.messages
    assert [m.content for m in received] == [mail(n).payload for n in range(1, 4)]
    assert [m.rcpt_tos for m in received] == [(f"customer{n}@example.com",) for n in range(1, 4)]
    assert {m.mail_from for m in received} == {SENDER}
    assert len(smtp_server.handler.sessions) == 1


def test_refused_recipient_is_permanent_and_the_batch_goes_on(smtp_server) -> None:
    smtp_server.handler.refuse.add("gone@example.com")
    with adapter(smtp_server) as smtp:
        with pytest.raises(PermanentFailure, match="550") as info:
            smtp.send(mail(1, "gone@example.com"))
        assert info.value.status == 550
        assert "User unknown" in str(info.value)
        assert "gone@" not in str(info.value), "the reason reaches logs and XCom: no address"
        smtp.send(mail(2))
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [("customer2@example.com",)]
    assert len(smtp_server.handler.sessions) == 1


def test_temporary_data_failure_is_transient(smtp_server) -> None:
    smtp_server.handler.fail_data_after = 1
    with adapter(smtp_server) as smtp:
        smtp.send(mail(1))
        with pytest.raises(TransientFailure, match="451") as info:
            smtp.send(mail(2))
    assert info.value.status == 451
    assert len(smtp_server.handler.messages) == 1


def test_lost_connection_is_transient_and_the_next_send_reconnects(smtp_server) -> None:
    with adapter(smtp_server) as smtp:
        smtp.send(mail(1))
        smtp._sender._client.sock.shutdown(socket.SHUT_RDWR)  # the connection drops
        with pytest.raises(TransientFailure, match="connection lost"):
            smtp.send(mail(2))
        smtp.send(mail(3))
    assert [m.rcpt_tos[0] for m in smtp_server.handler.messages] == [
        "customer1@example.com",
        "customer3@example.com",
    ]
    assert len(smtp_server.handler.sessions) == 2


def test_server_down_is_transient(unused_port: int) -> None:
    smtp = SmtpAdapter(SmtpSettings(host="127.0.0.1", port=unused_port, timeout=2), SENDER)
    with pytest.raises(TransientFailure, match="unreachable"), smtp:
        pass


def test_send_outside_context_manager_refused(smtp_server) -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        adapter(smtp_server).send(mail(1))
