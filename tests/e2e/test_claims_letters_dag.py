"""The claims_letters DAG end to end through Airflow (`dag.test()`), with a real SMTP server.

Each claim event of the day is answered once: acknowledgements and requests for
documents on the customer's preferred channel, decisions on paper with a portal copy;
two events for one claim give two letters; an event at the interval start belongs to
this run, one at the interval end to the next; a rerun sends nothing new. Slow: Airflow +
Great Expectations + WeasyPrint.
"""

import json
import sqlite3
from datetime import timedelta

import pytest
from support import RUN_AT, mail_by_recipient, pdf_text, run_dag

from missiva.channels.portal import PortalInbox
from missiva.privacy.sealing import sealed
from missiva.records.keys import COPY_MARK
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
LETTER_FOR = {
    "acknowledgement": "claim_acknowledgement",
    "documents_request": "claim_documents_request",
    "decision": "claim_decision",
}


def _events(home, start: str, end: str) -> dict[str, dict]:
    """The seeded claim events in [start, end), by subject key, with the customer."""
    with sqlite3.connect(home / "core.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT e.*, c.preferred_channel, c.email FROM claim_events AS e"
            " JOIN customers AS c ON c.customer_id = e.customer_id"
            " WHERE e.occurred_at >= ? AND e.occurred_at < ?",
            (start, end),
        )
        return {f"event-{r['event_id']}": dict(r) for r in rows}


def _letters(ledger: Ledger) -> dict[str, dict[str, object]]:
    """The journey's communications by kind (``answer``, ``copy`` in the portal, its
    ``notice`` by e-mail or SMS) and subject key."""
    found: dict[str, dict[str, object]] = {"answer": {}, "copy": {}, "notice": {}}
    for comm in ledger.communications(journey="claims_letters"):
        key = comm.idempotency_key
        kind = "notice" if key.endswith("/notice") else "copy" if COPY_MARK in key else "answer"
        found[kind][key.split("/")[3]] = comm
    return found


def test_each_claim_event_answered_once_on_its_channel(journey_env, monkeypatch):
    home, _ = journey_env
    # dag.test() of Airflow 3.3.2 cannot finish a DAG with a deadline alert (see
    # missiva.orchestration.deadlines); the alert has its own tests in tests/dags.
    monkeypatch.setenv("MISSIVA_DEADLINE_ALERTS", "off")
    assert run_dag("claims_letters").state == "success"

    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)
    events = _events(home, "2026-11-02 00:00:00", "2026-11-03 00:00:00")
    letters = _letters(ledger)
    answers, copies, notices = letters["answer"], letters["copy"], letters["notice"]
    assert set(answers) == set(events), "every event of the interval answered, no other"
    assert "2026-11-02 00:00:00" in {e["occurred_at"] for e in events.values()}

    mail = mail_by_recipient(home / "mail")
    sms_received = [json.loads(p.read_text()) for p in (home / "sms").glob("*.json")]
    print_dir = home / "print" / "claims_letters" / "2026-11-02"
    for subject, event in events.items():
        comm = answers[subject]
        assert comm.status == "sent", (subject, comm.reason)
        assert comm.communication == LETTER_FOR[event["kind"]]
        if event["kind"] == "decision":
            assert comm.channel == "paper", "the decision letter is legally required on paper"
            copy = copies[subject]
            assert copy.channel == "portal" and copy.status == "sent"
            (document,) = PortalInbox(None, home / "portal").inbox(event["customer_id"])
            assert document["communication_id"] == copy.communication_id
            assert notices[subject].channel in ("email", "sms")
            assert notices[subject].status == "sent"
        else:
            assert comm.channel == event["preferred_channel"]
        if comm.channel == "sms":
            (sms,) = [m for m in sms_received if m["reference"] == comm.communication_id]
            assert sms["to"] == comm.recipient and event["claim_id"] in sms["text"]
            continue
        if comm.channel == "email":
            (message,) = [m for m in mail[event["email"]] if event["claim_id"] in m["Subject"]]
            (attachment,) = message.iter_attachments()
            letter = attachment.get_content()
        else:
            letter = (print_dir / f"{comm.communication_id}.pdf").read_bytes()
            assert letter == store.get(comm.artifact_uri, comm.artifact_sha256)
        assert event["claim_id"] in pdf_text(letter)
    assert set(copies) == set(notices) == {s for s, e in events.items() if e["kind"] == "decision"}

    # Two events for one claim in the interval: two letters.
    by_claim: dict[str, list[str]] = {}
    for subject, event in events.items():
        by_claim.setdefault(event["claim_id"], []).append(subject)
    (twice,) = [subjects for subjects in by_claim.values() if len(subjects) == 2]
    assert {answers[s].communication for s in twice} == {
        "claim_acknowledgement",
        "claim_documents_request",
    }
    assert len({answers[s].communication_id for s in twice}) == 2

    # The same run again: nothing new sent or recorded.
    before = (ledger.count(), sorted(p.name for p in print_dir.iterdir()))
    mail_before = sum(len(v) for v in mail.values())
    assert run_dag("claims_letters").state == "success"
    assert (ledger.count(), sorted(p.name for p in print_dir.iterdir())) == before
    assert sum(len(v) for v in mail_by_recipient(home / "mail").values()) == mail_before

    # The next day answers the event at the interval end, once; the one a second
    # before the first interval belongs to neither run.
    assert run_dag("claims_letters", RUN_AT + timedelta(days=1)).state == "success"
    answers_next = _letters(ledger)["answer"]
    at_end = _events(home, "2026-11-03 00:00:00", "2026-11-03 00:00:01")
    assert at_end and set(at_end) <= set(answers_next) - set(answers)
    assert all(answers_next[s].status == "sent" for s in at_end)
    before_start = _events(home, "2026-11-01 23:59:59", "2026-11-02 00:00:00")
    assert before_start and not set(before_start) & set(answers_next)
