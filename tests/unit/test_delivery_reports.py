"""Delivery reports (bounces, complaints...) into a real SQLite ledger: validation,
status changes, idempotency, the hash chain, invalid contacts and the CLI (the HTTP route:
tests/component/test_delivery_reports_http.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ledger_fixtures import DOMAIN, T0, cid, email_fields, message_id, reported_emails

from missiva.cli import main
from missiva.delivery import reports as delivery_reports
from missiva.delivery.reports import ReportError, ingest
from missiva.records.errors import LedgerError
from missiva.records.ledger import Ledger


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path) -> Iterator[Ledger]:
    with reported_emails(db_path) as ledger:
        yield ledger


def run(ledger: Ledger, payload: Any) -> delivery_reports.IngestResult:
    return ingest(ledger, payload, message_id_domain=DOMAIN, source="test")


def kinds(ledger: Ledger, n: int) -> list[str]:
    return [e.kind for e in ledger.events(cid(n))]


def detail(ledger: Ledger, n: int) -> dict[str, Any]:
    return json.loads(ledger.events(cid(n))[-1].detail)


# --- applying reports ------------------------------------------------------------------


def test_a_hard_bounce_by_communication_id_bounces_the_row(ledger: Ledger) -> None:
    report = {
        "communication_id": cid(1),
        "event": "hard_bounce",
        "reason": "550 5.1.1 user unknown",
        "at": "2026-11-02T09:15:00Z",
        "provider": "postfix",
    }
    result = run(ledger, report)
    assert (result.applied, result.duplicate, result.rejected) == (1, 0, [])
    row = ledger.get(cid(1))
    assert row.status == "bounced"
    assert row.reason == "hard_bounce reported by postfix: 550 5.1.1 user unknown"
    assert kinds(ledger, 1)[-1] == "hard_bounce"
    recorded = detail(ledger, 1)
    assert recorded["reason"] == "550 5.1.1 user unknown"
    assert recorded["provider"] == "postfix"
    assert recorded["at"] == "2026-11-02T09:15:00+00:00"
    assert recorded["status"] == "bounced" and recorded["source"] == "test"
    assert ledger.verify_chain() == []


@pytest.mark.parametrize(
    "mid", [message_id(2), message_id(2).strip("<>"), f"<{cid(2)}@MISSIVA.example>"]
)
def test_a_hard_bounce_by_message_id(ledger: Ledger, mid: str) -> None:
    result = run(ledger, [{"message_id": mid, "event": "hard_bounce"}])
    assert result.applied == 1 and result.ok
    assert ledger.get(cid(2)).status == "bounced"
    assert ledger.get(cid(2)).reason == "hard_bounce reported by the provider: no reason given"
    assert ledger.verify_chain() == []


def test_rejected_by_provider_message_id(ledger: Ledger) -> None:
    result = run(ledger, {"provider_message_id": "Q3", "event": "rejected", "reason": "policy"})
    assert result.applied == 1
    assert ledger.get(cid(3)).status == "bounced"
    assert kinds(ledger, 3)[-1] == "rejected"


@pytest.mark.parametrize("event", ["soft_bounce", "delivered", "complaint"])
def test_other_reports_leave_the_row_alone(ledger: Ledger, event: str) -> None:
    before = ledger.get(cid(1)).as_dict()
    result = run(ledger, {"communication_id": cid(1), "event": event, "reason": "mailbox full"})
    assert result.applied == 1
    assert ledger.get(cid(1)).as_dict() == before
    assert kinds(ledger, 1) == ["composed", "sending", "sent", event]
    assert "status" not in detail(ledger, 1)
    assert ledger.verify_chain() == []


def test_a_second_hard_bounce_is_recorded_without_a_status_change(ledger: Ledger) -> None:
    run(ledger, {"communication_id": cid(1), "event": "hard_bounce", "reason": "a"})
    result = run(ledger, {"communication_id": cid(1), "event": "rejected", "reason": "b"})
    assert result.applied == 1
    assert ledger.get(cid(1)).reason == "hard_bounce reported by the provider: a"
    assert kinds(ledger, 1)[-2:] == ["hard_bounce", "rejected"]
    assert ledger.verify_chain() == []


# --- idempotency -----------------------------------------------------------------------


def test_the_same_report_twice_is_recorded_once(ledger: Ledger) -> None:
    report = {"communication_id": cid(1), "event": "soft_bounce", "at": "2026-11-02T10:00:00+01:00"}
    assert run(ledger, report).applied == 1
    events = len(ledger.events())
    again = run(ledger, [report, report])
    assert (again.applied, again.duplicate, again.ok) == (0, 2, True)
    # the same report designated by its Message-ID instead, the same time written in UTC
    same = {"message_id": message_id(1), "event": "soft_bounce", "at": "2026-11-02T09:00:00Z"}
    assert run(ledger, same).duplicate == 1
    assert len(ledger.events()) == events
    # a later soft bounce is a new report
    later = report | {"at": "2026-11-02T11:00:00+01:00"}
    assert run(ledger, later).applied == 1
    assert ledger.verify_chain() == []


def test_a_repeated_hard_bounce_is_a_duplicate(ledger: Ledger) -> None:
    report = {"communication_id": cid(1), "event": "hard_bounce", "reason": "550"}
    result = run(ledger, [report, report])
    assert (result.applied, result.duplicate) == (1, 1)
    assert kinds(ledger, 1).count("hard_bounce") == 1
    assert ledger.verify_chain() == []


def test_the_ledger_api_dedupes_by_report_key(ledger: Ledger) -> None:
    assert ledger.record_delivery_report(cid(1), "complaint", report_key="k1")
    assert not ledger.record_delivery_report(cid(1), "complaint", report_key="k1")
    assert ledger.record_delivery_report(cid(1), "complaint", report_key="k2")
    with pytest.raises(LedgerError, match="unknown delivery report"):
        ledger.record_delivery_report(cid(1), "opened")
    assert ledger.verify_chain() == []


# --- rejected items --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("hard_bounce", "not a JSON object but str"),
        ({"event": "hard_bounce", "reason": "550"}, "missing identifier"),
        ({"communication_id": "", "event": "hard_bounce"}, "communication_id: must be a non-empty"),
        ({"communication_id": 42, "event": "hard_bounce"}, "communication_id: must be a non-empty"),
        ({"communication_id": cid(1)}, "missing event"),
        ({"communication_id": cid(1), "event": "opened"}, "event: 'opened' is not one of"),
        ({"communication_id": cid(1), "event": "hard_bounce", "at": "yesterday"}, "at: not an ISO"),
        (
            {"communication_id": cid(1), "event": "hard_bounce", "at": "2026-11-02T09:00"},
            "time zone",
        ),
        ({"communication_id": cid(1), "event": "hard_bounce", "at": 1730538000}, "at: must be"),
        ({"communication_id": cid(1), "event": "hard_bounce", "reason": ["x"]}, "reason: must be"),
        ({"communication_id": cid(1), "event": "hard_bounce", "reason": "x" * 2001}, "longer than"),
        ({"comunication_id": cid(1), "event": "hard_bounce"}, "unknown field(s): comunication_id"),
        ({"message_id": "<nonsense>", "event": "hard_bounce"}, "message_id: not a Message-ID"),
        ({"message_id": f"<{cid(1)}@other.example", "event": "hard_bounce"}, "not a Message-ID"),
        (
            {"message_id": f"<{cid(1)}@other.example>", "event": "hard_bounce"},
            "domain 'other.example'",
        ),
        ({"communication_id": "nope", "event": "hard_bounce"}, "unknown communication 'nope'"),
        ({"message_id": f"<nope@{DOMAIN}>", "event": "delivered"}, "unknown communication 'nope'"),
        ({"provider_message_id": "Q999", "event": "rejected"}, "no provider_message_id 'Q999'"),
        ({"provider_message_id": "Q-same", "event": "rejected"}, "matches 2 communications"),
        ({"communication_id": cid(5), "event": "hard_bounce"}, "never handed to a provider"),
        (
            {"communication_id": cid(1), "message_id": message_id(2), "event": "hard_bounce"},
            "identifiers disagree",
        ),
    ],
)
def test_a_malformed_item_is_rejected_with_its_index(
    ledger: Ledger, item: Any, reason: str
) -> None:
    events = len(ledger.events())
    good = {"communication_id": cid(4), "event": "hard_bounce"}
    result = run(ledger, [good, item, good | {"reason": "again"}])
    assert result.applied == 2  # the valid items are applied all the same
    assert [r.index for r in result.rejected] == [1]
    assert reason in result.rejected[0].reason
    assert not result.ok
    assert len(ledger.events()) == events + 2
    assert ledger.get(cid(1)).status == "sent"
    assert ledger.verify_chain() == []


def test_agreeing_identifiers_are_accepted(ledger: Ledger) -> None:
    item = {"communication_id": cid(1), "message_id": message_id(1), "provider_message_id": "Q1"}
    assert run(ledger, item | {"event": "delivered"}).applied == 1


@pytest.mark.parametrize("payload", [42, "text", None])
def test_a_payload_neither_object_nor_list_is_refused(ledger: Ledger, payload: Any) -> None:
    with pytest.raises(ReportError, match="object or a list"):
        run(ledger, payload)


def test_not_json_is_refused() -> None:
    with pytest.raises(ReportError, match="not JSON"):
        delivery_reports.loads(b"{nope")
    assert delivery_reports.loads(b"[]") == []


# --- invalid contacts ------------------------------------------------------------------


def test_invalid_contacts_lists_bounced_addresses(ledger: Ledger) -> None:
    run(
        ledger,
        [
            {"communication_id": cid(1), "event": "hard_bounce"},
            {"communication_id": cid(2), "event": "soft_bounce"},
            {"provider_message_id": "Q3", "event": "rejected"},
        ],
    )
    customers = ["C000001", "C000002", "C000003", "C000004", "C999999"]
    assert ledger.invalid_contacts(customers) == {
        "C000001": {("email", "c1@example.com")},
        "C000003": {("email", "c3@example.com")},
    }
    assert ledger.invalid_contacts(["C000002"]) == {}
    assert ledger.invalid_contacts([]) == {}


def test_a_later_delivery_to_the_address_makes_it_valid_again(ledger: Ledger) -> None:
    run(ledger, {"communication_id": cid(1), "event": "hard_bounce"})
    # the customer's next e-mail to the same address is delivered
    ledger.add(**email_fields(1, communication_id="c1-next", idempotency_key="next/C000001"))
    ledger.transition("c1-next", "composed", "sending")
    ledger.transition("c1-next", "sending", "sent", provider_message_id="Q-next", sent_at=T0)
    assert ledger.invalid_contacts(["C000001"]) == {"C000001": {("email", "c1@example.com")}}
    run(ledger, {"provider_message_id": "Q-next", "event": "delivered"})
    assert ledger.invalid_contacts(["C000001"]) == {}
    assert ledger.verify_chain() == []


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(ledger: Ledger, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MISSIVA_MESSAGE_ID_DOMAIN", DOMAIN)
    return ["events", "--ledger", f"sqlite:///{db_path}", "ingest"]


def test_cli_ingests_a_file(
    cli_env: list[str], ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps([{"message_id": message_id(1), "event": "hard_bounce"}]))
    assert main([*cli_env, str(path)]) == 0
    assert capsys.readouterr().out.strip() == "applied 1, duplicate 0, rejected 0"
    assert ledger.get(cid(1)).status == "bounced"
    assert json.loads(ledger.events(cid(1))[-1].detail)["source"] == "cli"
    assert main([*cli_env, str(path)]) == 0
    assert capsys.readouterr().out.strip() == "applied 0, duplicate 1, rejected 0"


def test_cli_reads_stdin_and_fails_on_a_rejected_item(
    cli_env: list[str],
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reports = [
        {"communication_id": cid(2), "event": "soft_bounce"},
        {"communication_id": "ghost", "event": "hard_bounce"},
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(reports)))
    assert main([*cli_env, "-"]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "applied 1, duplicate 0, rejected 1"
    assert "item 1: rejected: unknown communication 'ghost'" in err
    assert kinds(ledger, 2)[-1] == "soft_bounce"


def test_cli_refuses_what_is_not_json(
    cli_env: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    assert main([*cli_env, "-"]) == 1
    assert "the payload is not JSON" in capsys.readouterr().err
