"""The billing_statements DAG end to end (`dag.test()`), with a real SMTP server.

The run of 2026-11-01 bills October 2026: paperless accounts by e-mail with the PDF,
the others on paper, householded in the print batch; every statement of the month
in the ledger and no other; the chart in the PDF and on the web page; a rerun sends
nothing new. Slow: Airflow + Great Expectations + WeasyPrint.
"""

import email
import json
import sqlite3
from datetime import UTC, datetime
from email.policy import default as default_policy

import pytest
from support import mail_by_recipient, pdf_text, run_dag

from missiva.channels.portal import PortalInbox
from missiva.composition import Composer
from missiva.privacy.sealing import sealed
from missiva.records.audit import rerender
from missiva.records.keys import NOTICE_MARK
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore
from missiva.settings import Settings

pytestmark = pytest.mark.e2e
OCTOBER_RUN = datetime(2026, 11, 1, tzinfo=UTC)  # data interval [2026-10-01, 2026-11-01)
QUARANTINED_DEFECTS = {
    "duplicate_customer_id": "expect_column_values_to_be_in_set(customer_records)",
    "crlf_in_name": "expect_column_values_to_not_match_regex(first_name)",
    "unsupported_language": "expect_column_values_to_be_in_set(language)",
}


def _accounts(home) -> dict[int, dict]:
    with sqlite3.connect(home / "core.db") as conn:
        conn.row_factory = sqlite3.Row
        return {r["row_id"]: dict(r) for r in conn.execute("SELECT * FROM billing_accounts")}


def _billed_in(home, period: str) -> set[str]:
    with sqlite3.connect(home / "core.db") as conn:
        sql = "SELECT DISTINCT account_id FROM statement_lines WHERE period = ?"
        return {row[0] for row in conn.execute(sql, (period,))}


def _defects_by_customer(home, report) -> dict[str, str]:
    with sqlite3.connect(home / "core.db") as conn:
        ids = dict(conn.execute("SELECT row_id, customer_id FROM customers"))
    return {ids[row_id]: kind for row_id, kind in report.defects.items()}


def test_october_statements_end_to_end(journey_env):
    home, report = journey_env
    assert run_dag("billing_statements", OCTOBER_RUN).state == "success"

    accounts = _accounts(home)
    by_id = {a["account_id"]: a for a in accounts.values()}
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)
    comms = ledger.communications(journey="billing_statements")
    notices = [c for c in comms if c.idempotency_key.endswith(NOTICE_MARK)]
    rows = {c.source_row_id: c for c in comms if c not in notices}
    billed = _billed_in(home, "2026-10")
    assert {accounts[r]["account_id"] for r in rows} == billed, "each October statement, no other"
    assert all(c.status in ("sent", "suppressed", "quarantined") for c in rows.values())
    # boundaries: opened in November, closed on 1 October, opened on 15 October
    assert not any(a["opened_on"] >= "2026-11-01" for a in map(by_id.get, billed))
    assert not any(a["closed_on"] == "2026-10-01" for a in map(by_id.get, billed))
    assert any(a["opened_on"] == "2026-10-15" for a in map(by_id.get, billed))
    assert any(a["closed_on"] == "2026-10-01" for a in accounts.values())
    assert any(a["opened_on"] >= "2026-11-01" for a in accounts.values())

    defects = _defects_by_customer(home, report)
    for row_id, comm in rows.items():
        defect = defects.get(accounts[row_id]["customer_id"])
        if defect in QUARANTINED_DEFECTS:
            assert comm.status == "quarantined" and QUARANTINED_DEFECTS[defect] in comm.reason

    sent = [c for c in rows.values() if c.status == "sent"]
    assert {"email", "paper", "portal"} == {c.channel for c in sent}
    inbox = PortalInbox(store.put, home / "portal")
    mail = mail_by_recipient(home / "mail")
    print_dir = home / "print" / "billing_statements" / "2026-10-01"
    for comm in sent:
        account = accounts[comm.source_row_id]
        record = json.loads(store.get(comm.input_uri, comm.data_sha256))
        if comm.channel == "email":
            assert account["paperless"] == 1 or "fallback" in comm.route_reason
            (message,) = [
                m
                for m in mail[comm.recipient]
                if m["Message-ID"] == f"<{comm.communication_id}@missiva.example>"
            ]
            (attachment,) = list(message.iter_attachments())
            statement = attachment.get_content()
            archived = email.message_from_bytes(
                store.get(comm.artifact_uri, comm.artifact_sha256), policy=default_policy
            )
            assert next(archived.iter_attachments()).get_content() == statement
        elif comm.channel == "portal":  # no consented e-mail (or paper): the web page
            assert "fallback portal" in comm.route_reason
            documents = inbox.inbox(comm.customer_id)
            (entry,) = [d for d in documents if d["communication_id"] == comm.communication_id]
            page = store.get(entry["uri"], entry["sha256"])
            assert page == store.get(comm.artifact_uri, comm.artifact_sha256)
            assert entry["content_type"].startswith("text/html")
            assert account["account_id"] in page.decode() and b"<svg" in page
            continue
        else:
            assert account["paperless"] == 0 and "preferred channel paper" in comm.route_reason
            statement = (print_dir / f"{comm.communication_id}.pdf").read_bytes()
            assert statement == store.get(comm.artifact_uri, comm.artifact_sha256)
        text = pdf_text(statement)
        assert account["account_id"] in text and record["last_name"] in text
        assert [line["description"] in text for line in record["lines"]] == [True] * len(
            record["lines"]
        )
        assert "Oct 26" in text or "ott 26" in text, "the chart's month labels are in the PDF"
    # every e-mail went out once: the e-mailed statements and the portal notices by e-mail
    emailed_notices = [c for c in notices if c.channel == "email" and c.status == "sent"]
    assert sum(map(len, mail.values())) == sum(c.channel == "email" for c in sent) + len(
        emailed_notices
    )
    assert len(notices) == sum(c.channel == "portal" for c in sent)

    # the chart in the web rendition of a sent statement, one bar per month of history
    comm = next(
        c for c in sent if len(json.loads(store.get(c.input_uri, c.data_sha256))["history"]) > 2
    )
    record = json.loads(store.get(comm.input_uri, comm.data_sha256))
    web = Composer().render_web(
        "billing_statement",
        {**record, "communication_id": comm.communication_id, "letter_date": "2026-11-01"},
    )
    assert web.html.count("<svg") == 2
    assert web.html.count("<rect") == 2 * len(record["history"])

    # householding: one envelope for an addressee's statements; a household's members
    # (same address, other names) each in their own envelope
    (manifest_file,) = (print_dir / "batches").glob("*.manifest.json")
    envelopes = json.loads(manifest_file.read_text())["envelopes"]
    paper = {c.communication_id for c in sent if c.channel == "paper"}
    assert sorted(i for e in envelopes for i in e["communication_ids"]) == sorted(paper)
    assert any(len(e["communication_ids"]) == 2 for e in envelopes), "two statements, one envelope"
    by_address: dict[tuple, list[str]] = {}
    for envelope in envelopes:
        by_address.setdefault(tuple(envelope["address_lines"][1:]), []).append(
            envelope["address_lines"][0]
        )
    assert any(len(set(names)) > 1 for names in by_address.values()), "a shared address"

    # the archived statements re-render byte for byte (the chart is deterministic)
    for channel in ("email", "paper"):
        comm = next(c for c in sent if c.channel == channel)
        assert rerender(ledger, Settings.from_env(), comm.communication_id).identical, channel

    # the same run again: nothing new sent or recorded
    mail_before = sum(map(len, mail.values()))
    prints_before = sorted(p.name for p in print_dir.iterdir())
    ledger_before = ledger.count()
    assert run_dag("billing_statements", OCTOBER_RUN).state == "success"
    assert sum(map(len, mail_by_recipient(home / "mail").values())) == mail_before
    assert sorted(p.name for p in print_dir.iterdir()) == prints_before
    assert ledger.count() == ledger_before
