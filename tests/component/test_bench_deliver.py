"""Smoke test of the SMTP delivery benchmark (small counts; no timing assertions)."""

from __future__ import annotations

import email
from email.policy import default

import pytest

from missiva.devtools.bench_deliver import bench_deliver, build_messages, main


@pytest.mark.parametrize("server", ["process", "thread"])
def test_bench_deliver_smoke(server: str) -> None:
    result = bench_deliver(60, server=server)
    assert result["messages"] == 60
    assert result["connections"] == 1  # one reused SMTP connection for all messages
    assert 18_000 <= result["message_bytes"] <= 22_000
    assert result["smtp_messages_per_s"] > 0
    assert result["server"] == server
    assert (result["server_cpu_s"] is None) == (server == "thread")


def test_messages_are_distinct_and_well_formed() -> None:
    messages = build_messages(3)
    assert len(set(messages)) == 3
    parsed = email.message_from_bytes(messages[2], policy=default)
    assert parsed["Message-ID"] == "<bench-2@missiva.example>"
    assert parsed.get_content_type() == "multipart/mixed"
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        bench_deliver(0)
    with pytest.raises(ValueError, match="server must be"):
        bench_deliver(1, server="cloud")  # type: ignore[arg-type]


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    main(["--messages", "5", "--server", "thread"])
    assert json.loads(capsys.readouterr().out)["messages"] == 5
