"""Audit queries and tamper detection of the ledger (SQLite): clause recipients, digests."""

from __future__ import annotations

import json
from dataclasses import astuple
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ledger_fixtures import T0, cid, email_fields, raw_sql, send
from sqlalchemy.exc import IntegrityError

from missiva.records.chain import Anchor
from missiva.records.errors import LedgerError
from missiva.records.ledger import Ledger
from missiva.records.models import row_digest


def fields(n: int, **overrides: Any) -> dict[str, Any]:
    """``email_fields(n)`` rendered from template welcome v1."""
    return email_fields(n, **{"template": "welcome", "template_version": "v1", **overrides})


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{db_path}")


@pytest.fixture
def sent_ledger(ledger: Ledger) -> Ledger:
    """Five letters: the privacy clause v3 (1, 2, 4) or v4 (3); 5 never sent."""
    ledger.add(**fields(1), blocks={"privacy": "3", "greeting": "1"})
    ledger.add(**fields(2, channel="paper", recipient="Via Roma 1"), blocks={"privacy": "3"})
    ledger.add(**fields(3), blocks={"privacy": "4"})
    ledger.add(**fields(4), blocks={"privacy": "3"})
    ledger.add(**fields(5), blocks={"privacy": "3"})
    send(ledger, 1, T0)
    send(ledger, 2, T0 + timedelta(days=1))
    send(ledger, 3, T0 + timedelta(days=1))
    send(ledger, 4, T0 + timedelta(days=2))
    return ledger


# --- the new columns and communication_blocks ------------------------------------------


def test_add_records_blocks_consent_and_input(ledger: Ledger, db_path: Path) -> None:
    consent = {"email": {"transactional": True, "marketing": False}, "sms": None}
    ledger.add(
        **fields(1, consent_state=consent, input_uri="file:///archive/ab/cd"),
        blocks={"privacy": "3", "greeting": "1"},
    )
    row = ledger.get(cid(1))
    assert row.block_versions == '{"greeting":"1","privacy":"3"}'  # canonical JSON
    assert row.blocks == {"greeting": "1", "privacy": "3"}
    assert row.consent == consent
    assert row.consent_state == json.dumps(consent, sort_keys=True, separators=(",", ":"))
    assert row.input_uri == "file:///archive/ab/cd"
    assert ledger.blocks(cid(1)) == {"greeting": "1", "privacy": "3"}
    rows = raw_sql(db_path, "SELECT * FROM communication_blocks ORDER BY block")
    assert rows == [(cid(1), "greeting", "1"), (cid(1), "privacy", "3")]


def test_a_duplicate_add_writes_no_blocks(ledger: Ledger) -> None:
    assert ledger.add(**fields(1), blocks={"privacy": "3"})
    assert not ledger.add(**fields(1), blocks={"privacy": "4"})
    assert ledger.blocks(cid(1)) == {"privacy": "3"}


def test_blocks_may_come_as_block_versions(ledger: Ledger) -> None:
    ledger.add(**fields(1, block_versions={"privacy": "3"}))
    assert ledger.blocks(cid(1)) == {"privacy": "3"}
    with pytest.raises(ValueError, match="disagree"):
        ledger.add(**fields(2, block_versions={"privacy": "3"}), blocks={"privacy": "4"})


def test_block_versions_are_fixed_at_add(ledger: Ledger) -> None:
    ledger.add(**fields(1), blocks={"privacy": "3"})
    with pytest.raises(LedgerError, match="recorded once"):
        ledger.transition(cid(1), "composed", "sending", block_versions='{"privacy":"4"}')


def test_an_add_missing_a_required_field_raises(ledger: Ledger) -> None:
    incomplete = fields(1)
    del incomplete["data_sha256"]
    with pytest.raises(IntegrityError):
        ledger.add(**incomplete)  # not mistaken for "already recorded"
    assert ledger.count() == 0


def test_timestamps_come_back_in_utc(ledger: Ledger) -> None:
    ledger.add(**fields(1))
    rome = timezone(timedelta(hours=1))
    ledger.transition(cid(1), "composed", "sending")
    ledger.transition(cid(1), "sending", "sent", sent_at=datetime(2026, 11, 2, 10, 0, tzinfo=rome))
    row = ledger.get(cid(1))
    assert row.sent_at == T0 and row.sent_at.utcoffset() == timedelta(0)
    assert row.created_at.tzinfo is not None


# --- who received clause X version N between dates A and B ----------------------------


def test_clause_recipients_by_version(sent_ledger: Ledger) -> None:
    v3 = sent_ledger.clause_recipients("privacy", "3")
    assert [c.communication_id for c in v3] == [cid(1), cid(2), cid(4)]  # 5 was never sent
    assert [(c.customer_id, c.channel) for c in v3][:2] == [
        ("C000001", "email"),
        ("C000002", "paper"),
    ]
    assert [c.communication_id for c in sent_ledger.clause_recipients("privacy", "4")] == [cid(3)]
    every = sent_ledger.clause_recipients("privacy", None)
    assert [c.communication_id for c in every] == [cid(1), cid(2), cid(3), cid(4)]
    assert [c.communication_id for c in sent_ledger.clause_recipients("greeting")] == [cid(1)]
    assert sent_ledger.clause_recipients("privacy", "5") == []
    assert sent_ledger.clause_recipients("no-such-block") == []


def test_clause_recipients_between_dates(sent_ledger: Ledger) -> None:
    day = timedelta(days=1)

    def ids(**kw: Any) -> list[str]:
        return [c.communication_id for c in sent_ledger.clause_recipients("privacy", "3", **kw)]

    assert ids(since=T0 + day) == [cid(2), cid(4)]
    assert ids(until=T0 + day) == [cid(1)]  # until is exclusive
    assert ids(since=T0 + day, until=T0 + 2 * day) == [cid(2)]
    assert ids(since=T0, until=T0) == []
    # naive datetimes are UTC; other offsets are converted
    assert ids(since=datetime(2026, 11, 3, 9, 0)) == [cid(2), cid(4)]
    cet = timezone(timedelta(hours=1))
    assert ids(since=datetime(2026, 11, 3, 10, 0, tzinfo=cet)) == [cid(2), cid(4)]
    assert ids(since=datetime(2026, 11, 3, 10, 0, 1, tzinfo=cet)) == [cid(4)]


def test_clause_and_trace_queries_use_their_indexes(sent_ledger: Ledger) -> None:
    with sent_ledger.engine.connect() as conn:

        def plan(sql: str) -> str:
            return " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

        trace = plan("SELECT * FROM communications WHERE customer_id = 'C1' ORDER BY created_at")
        assert "ix_communications_customer_created" in trace
        assert "TEMP B-TREE" not in trace  # no sort: the index delivers the order
        clause = plan(
            "SELECT c.* FROM communications c JOIN communication_blocks b "
            "ON b.communication_id = c.communication_id "
            "WHERE b.block = 'privacy' AND b.version = '3' AND c.status = 'sent'"
        )
        assert "ix_communication_blocks_block_version" in clause


# --- row digests and verify_chain ------------------------------------------------------


def test_every_event_records_the_row_digest_after_the_change(sent_ledger: Ledger) -> None:
    events = sent_ledger.events(cid(1))
    assert [e.kind for e in events] == ["composed", "sending", "sent"]
    digests = [json.loads(e.detail)["row_digest"] for e in events]
    assert len(set(digests)) == 3  # status changed each time
    assert digests[-1] == row_digest(sent_ledger.get(cid(1)))


def test_row_digest_covers_the_audit_fields(ledger: Ledger) -> None:
    ledger.add(**fields(1), blocks={"privacy": "3"})
    row = ledger.get(cid(1))
    base = row_digest(row)
    assert row_digest(row.as_dict()) == base  # a mapping works too
    for name in ("recipient", "block_versions", "artifact_sha256", "status", "route_reason"):
        assert row_digest({**row.as_dict(), name: "tampered"}) != base, name
    for name in ("consent_state", "input_uri", "sent_at", "run_id", "try_number"):
        assert row_digest({**row.as_dict(), name: "edited"}) != base, name


def test_an_intact_ledger_verifies(sent_ledger: Ledger) -> None:
    assert sent_ledger.verify_chain() == []
    assert sent_ledger.verify_chain(since=Anchor(*astuple(sent_ledger.head()))) == []
    assert Ledger(str(sent_ledger.engine.url)).verify_chain(batch_size=2) == []


def test_verify_detects_an_edited_event(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "UPDATE events SET detail = :d WHERE event_id = 6", d='{"task_id": "edited"}')
    assert sent_ledger.verify_chain() == [
        "event 6: content does not match its hash (edited or re-hashed without the key)"
    ]
    # editing the latest event of a row also loses the row digest the row is checked against
    raw_sql(db_path, "UPDATE events SET at = '2026-01-01 00:00:00.000000' WHERE event_id = 7")
    assert sent_ledger.verify_chain() == [
        "event 6: content does not match its hash (edited or re-hashed without the key)",
        "event 7: content does not match its hash (edited or re-hashed without the key)",
    ]


def test_verify_detects_a_rehashed_event(sent_ledger: Ledger, db_path: Path) -> None:
    """Editing an event and recomputing its hash breaks the link to the next event."""
    raw_sql(db_path, "UPDATE events SET kind = 'failed', hash = :h WHERE event_id = 7", h="f" * 64)
    problems = sent_ledger.verify_chain()
    assert problems[:2] == [
        "event 7: content does not match its hash (edited or re-hashed without the key)",
        "event 8: broken hash link, prev_hash does not match the hash of event 7 "
        "(an event was deleted, inserted or re-hashed)",
    ]


def test_verify_detects_a_deleted_event(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "DELETE FROM events WHERE event_id = 6")
    problems = sent_ledger.verify_chain()
    assert problems == [
        "event 7: broken hash link, prev_hash does not match the hash of event 5 "
        "(an event was deleted, inserted or re-hashed)"
    ]


def test_verify_detects_a_deleted_first_event(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "DELETE FROM events WHERE event_id = 1")
    assert sent_ledger.verify_chain()[0].startswith(
        "event 2: broken hash link, prev_hash does not match the hash of the start of the chain"
    )


def test_verify_detects_an_edited_communication_row(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "UPDATE communications SET recipient = 'x' WHERE customer_id = 'C000002'")
    sent_event = sent_ledger.events(cid(2))[-1].event_id
    assert sent_ledger.verify_chain() == [
        f"communication {cid(2)}: row differs from the digest recorded in event {sent_event} "
        "(the row was edited)"
    ]


def test_verify_detects_a_status_rolled_back(sent_ledger: Ledger, db_path: Path) -> None:
    """Setting 'sent' back to 'composed' would make a re-run send again: detected."""
    raw_sql(db_path, "UPDATE communications SET status = 'composed' WHERE customer_id = 'C000004'")
    (problem,) = sent_ledger.verify_chain()
    assert problem.startswith(f"communication {cid(4)}: row differs")


def test_verify_detects_a_row_without_events(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(
        db_path,
        "INSERT INTO communications (communication_id, idempotency_key, journey, communication,"
        " business_key, data_sha256, status, dag_id, run_id, task_id, try_number, created_at,"
        " updated_at) VALUES ('smuggled', 'k', 'j', 'c', 'b', 'd', 'sent', 'd', 'r', 't', 1,"
        " '2026-11-02 00:00:00', '2026-11-02 00:00:00')",
    )
    assert sent_ledger.verify_chain() == [
        "communication smuggled: no event records it (row inserted)"
    ]


def test_verify_detects_a_deleted_row(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "DELETE FROM communication_blocks WHERE communication_id = :c", c=cid(5))
    raw_sql(db_path, "DELETE FROM communications WHERE communication_id = :c", c=cid(5))
    assert sent_ledger.verify_chain() == [
        f"communication {cid(5)}: recorded by event 5 but missing from communications (row deleted)"
    ]


def test_verify_detects_edited_block_rows(sent_ledger: Ledger, db_path: Path) -> None:
    upgrade_clause = "UPDATE communication_blocks SET version = '4' WHERE communication_id = :c"
    raw_sql(db_path, upgrade_clause, c=cid(2))
    raw_sql(db_path, "DELETE FROM communication_blocks WHERE communication_id = :c", c=cid(4))
    assert sent_ledger.verify_chain() == [
        f"communication {cid(2)}: communication_blocks {{'privacy': '4'}} differ from its "
        'block_versions {"privacy":"3"}',
        f"communication {cid(4)}: communication_blocks rows missing for "
        'block_versions {"privacy":"3"}',
    ]


def test_verify_reports_an_unreadable_event(sent_ledger: Ledger, db_path: Path) -> None:
    raw_sql(db_path, "UPDATE events SET at = 'yesterday' WHERE event_id = 4")
    problems = sent_ledger.verify_chain()
    assert problems[0].startswith("events after event 3: unreadable (")
    assert problems[0].endswith("check stopped")


def test_an_in_memory_ledger_works() -> None:
    ledger = Ledger("sqlite://")
    assert ledger.add(**fields(1), blocks={"privacy": "3"})
    send(ledger, 1, T0)
    assert [c.customer_id for c in ledger.clause_recipients("privacy", "3")] == ["C000001"]
    assert ledger.verify_chain() == []


# --- the template version's approval, as audit show gives it ----------------------------


def test_show_gives_the_approval_of_the_version_a_communication_went_out_under(
    ledger: Ledger, tmp_path: Path
) -> None:
    from missiva.records.audit import show

    library = tmp_path / "templates"
    approvals = library / "communications" / "welcome" / "approvals.json"
    approvals.parent.mkdir(parents=True)
    v1 = {"version": "v1", "sha256": "a" * 64, "approved_by": "compliance@example.com"}
    v1 |= {"approved_at": "2026-11-01T08:00:00+00:00", "report_sha256": "b" * 64}
    v2 = {"version": "v2", "sha256": "c" * 64, "approved_by": "someone@example.com"}
    approvals.write_text(json.dumps([v1, v2 | {"approved_at": "2026-11-05T08:00:00+00:00"}]))
    ledger.add(**fields(1))
    ledger.add(**fields(2, template_version="v0"))
    ledger.add(**fields(3, template=None, template_version=None, status="quarantined"))

    assert "template_approval" not in show(ledger, cid(1)), "only when given the library"
    assert show(ledger, cid(1), library)["template_approval"] == {
        k: v1[k] for k in ("approved_by", "approved_at", "sha256", "report_sha256")
    }
    assert show(ledger, cid(2), library)["template_approval"] is None, "v0: none on record"
    assert show(ledger, cid(3), library)["template_approval"] is None, "no template"
    approvals.write_text("{not json")
    problem = show(ledger, cid(1), library)["template_approval"]["problem"]
    assert "welcome/approvals.json" in problem
