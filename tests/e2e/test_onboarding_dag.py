"""The onboarding DAG end to end through Airflow (`dag.test()`), with a real SMTP server
and a local SMS provider.

Asserts what each customer received (e-mail with PDF, SMS, or a printed letter), what the
ledger says, the quarantine reason of every injected defect, and that running the
same DAG run again sends nothing new. Slow: Airflow + Great Expectations + WeasyPrint.
"""

import email
import json
import os
import sqlite3
from email.policy import default as default_policy

import pytest
from pypdf import PdfReader
from support import mail_by_recipient, pdf_text, run_dag, sms_by_reference

from missiva.privacy.sealing import sealed
from missiva.records import audit, chain_key
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
EXPECTED_REASON = {
    "invalid_email": "expect_column_values_to_match_regex(email)",
    "missing_address": "expect_column_values_to_not_be_null(address_line1)",
    "duplicate_customer_id": "expect_column_values_to_be_unique(customer_id)",
    "crlf_in_name": "expect_column_values_to_not_match_regex(first_name)",
    "unsupported_language": "expect_column_values_to_be_in_set(language)",
}


def _customers(home):
    with sqlite3.connect(home / "core.db") as conn:
        conn.row_factory = sqlite3.Row
        return {r["row_id"]: dict(r) for r in conn.execute("SELECT * FROM customers")}


def test_onboarding_journey_end_to_end(journey_env):
    home, report = journey_env
    run = run_dag()
    assert run.state == "success"

    customers = _customers(home)
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)
    rows = {c.source_row_id: c for c in ledger.communications(journey="onboarding")}
    in_interval = {rid for rid, c in customers.items() if c["joined_at"].startswith("2026-11-02")}
    assert set(rows) == in_interval, "every extracted record ends in the ledger, no other"
    assert all(r.status in ("sent", "suppressed", "quarantined") for r in rows.values())

    for row_id, defect in report.defects.items():
        assert rows[row_id].status == "quarantined", (row_id, defect)
        assert EXPECTED_REASON[defect] in rows[row_id].reason
    for row_id in report.suppressions:
        assert rows[row_id].status == "suppressed" and rows[row_id].reason

    mail = mail_by_recipient(home / "mail")
    print_dir = home / "print" / "onboarding" / "2026-11-02"
    sent = [r for r in rows.values() if r.status == "sent"]
    assert {r.channel for r in sent} == {"email", "sms", "paper"}
    sms_received = sms_by_reference(home / "sms")
    for comm in sent:
        customer = customers[comm.source_row_id]
        archived = store.get(comm.artifact_uri, comm.artifact_sha256)  # verifies the hash
        if comm.channel == "sms":
            (sms,) = sms_received[comm.communication_id]  # exactly one SMS per customer
            assert sms["to"] == comm.recipient == customer["phone"]
            assert sms["text"].encode() == archived and customer["first_name"] in sms["text"]
            assert sms["id"] == comm.provider_message_id
            assert sms["idempotency_key"] == comm.idempotency_key
            continue
        if comm.channel == "email":
            (message,) = mail[comm.recipient]  # exactly one message per customer
            assert message["Message-ID"] == f"<{comm.communication_id}@missiva.example>"
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            assert customer["first_name"] in text
            assert customer["first_name"].replace("<", "&lt;").replace(">", "&gt;") in html
            assert "<script>" not in html
            (attachment,) = list(message.iter_attachments())
            assert attachment.get_content_type() == "application/pdf"
            letter = attachment.get_content()
            as_archived = email.message_from_bytes(archived, policy=default_policy)
            assert as_archived["Message-ID"] == message["Message-ID"]
            (archived_pdf,) = list(as_archived.iter_attachments())
            assert archived_pdf.get_content() == letter, "the PDF sent is the PDF archived"
        else:
            letter = (print_dir / f"{comm.communication_id}.pdf").read_bytes()
            assert letter == archived, "printed bytes are the archived bytes"
            address = json.loads((print_dir / f"{comm.communication_id}.json").read_text())
            assert customer["postal_code"] in " ".join(address["address"])
        letter_text = pdf_text(letter)
        assert customer["last_name"] in letter_text
        assert customer["postal_code"] in letter_text

    # The day's letters, merged into print batches with a manifest.
    (manifest_file,) = (print_dir / "batches").glob("*.manifest.json")
    manifest = json.loads(manifest_file.read_text())
    paper = {c.communication_id for c in sent if c.channel == "paper"}
    assert {i for e in manifest["envelopes"] for i in e["communication_ids"]} == paper
    batch_pdf = PdfReader(manifest_file.with_name(manifest["pdf"]["file"]))
    assert len(batch_pdf.pages) == manifest["totals"]["pages"]
    assert manifest["totals"]["letters"] == len(paper)

    # The same DAG run again: nothing new is sent or recorded.
    mail_before = sum(len(v) for v in mail.values())
    sms_before = sorted((home / "sms").iterdir())
    prints_before = sorted(p.name for p in print_dir.iterdir())
    ledger_before = ledger.count()
    assert run_dag().state == "success"
    assert sorted((home / "sms").iterdir()) == sms_before
    assert sum(len(v) for v in mail_by_recipient(home / "mail").values()) == mail_before
    assert sorted(p.name for p in print_dir.iterdir()) == prints_before
    assert ledger.count() == ledger_before


def test_broken_source_fails_before_any_send(journey_env):
    home, _ = journey_env
    with sqlite3.connect(home / "core.db") as conn:
        conn.execute("ALTER TABLE customers RENAME TO customers_old")
    run = run_dag()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["extract"] == "failed"
    assert not (home / "mail" / "new").exists() or not any((home / "mail" / "new").iterdir())
    assert Ledger(f"sqlite:///{home / 'ledger.db'}").count() == 0


def test_audit_verify_dag_passes_then_catches_tampering(journey_env, monkeypatch):
    """The chain is keyed with the ``missiva_ledger_key`` Connection's password; the run's
    report and each verify anchor the head; cutting the newest events off fails the
    (incremental) verify, naming the anchor."""
    home, _ = journey_env
    conn = {"conn_type": "generic", "password": "key-from-the-connection"}
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_LEDGER_KEY", json.dumps(conn))
    # dag.test() runs the tasks in this process: forget the key they install afterwards
    monkeypatch.setattr(chain_key.SECRET, "installed", None)
    assert run_dag().state == "success"
    assert run_dag("audit_verify").state == "success"
    url = f"sqlite:///{home / 'ledger.db'}"
    assert Ledger(url, key="key-from-the-connection").verify_chain() == []
    env_key = os.environ["MISSIVA_LEDGER_KEY"]
    assert Ledger(url, key=env_key).verify_chain() != []  # the environment's is not the key
    anchors = [json.loads(line) for line in (home / "archive" / "anchors" / "chain.jsonl").open()]
    assert [a["kind"] for a in anchors] == ["run", "verified"]
    head = anchors[-1]["event_id"]
    assert run_dag("audit_verify").state == "success"  # incremental: nothing new

    ledger = Ledger(url, key="key-from-the-connection")
    newest = ledger.events()[-1].communication_id
    with sqlite3.connect(home / "ledger.db") as db:
        db.execute("DELETE FROM events WHERE communication_id = ?", (newest,))
        db.execute("DELETE FROM communication_blocks WHERE communication_id = ?", (newest,))
        db.execute("DELETE FROM communications WHERE communication_id = ?", (newest,))
    run = run_dag("audit_verify")
    assert run.state == "failed"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["verify"] == "failed"
    problems = audit.verify(ledger, LocalArtifactStore(home / "archive"), full=False).problems
    assert any(p.startswith(f"event {head}: anchored by chain.jsonl:") for p in problems)
