"""The on_demand_document DAG end to end through Airflow (`dag.test()` with the request as
the run's conf), with a real SMTP server: who got which document on which channel, that a
requested channel overrides the preference but not consent, that re-running a request
sends nothing new, and that an unknown customer or a foreign policy fails before any send.
"""

import sqlite3
from datetime import UTC, datetime

import pytest
from support import mail_by_recipient, pdf_text, run_dag

from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
DAG_ID = "on_demand_document"
REQUESTED_AT = datetime(2026, 11, 3, 10, 30, tzinfo=UTC)


def _clean_customer(home, report, where: str) -> dict:
    """The first customer without injected defects or suppressions matching ``where``
    (a fixed SQL predicate over ``c`` and the transactional consents ``e``, ``s``)."""
    excluded = set(report.defects) | set(report.suppressions)
    with sqlite3.connect(home / "core.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT c.*, (SELECT COUNT(*) FROM customers d WHERE d.customer_id = c.customer_id)"
            " AS records, (SELECT MAX(policy_id) FROM policies p"
            " WHERE p.customer_id = c.customer_id) AS last_policy"
            " FROM customers c"
            " JOIN consents e ON e.customer_id = c.customer_id AND e.channel = 'email'"
            " AND e.purpose = 'transactional'"
            " JOIN consents s ON s.customer_id = c.customer_id AND s.channel = 'sms'"
            " AND s.purpose = 'transactional'"
            f" WHERE {where} ORDER BY c.row_id"
        ).fetchall()
    return next(dict(r) for r in rows if r["records"] == 1 and r["row_id"] not in excluded)


def _request(requested_at: datetime, **conf):
    """The DAG run of one request (the same ``requested_at``: the same run)."""
    return run_dag(DAG_ID, requested_at, conf, run_after=requested_at)


def test_on_demand_documents_by_request(journey_env):
    home, report = journey_env
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)

    # A certificate of the customer's second policy, by the preferred channel (e-mail).
    emailer = _clean_customer(
        home,
        report,
        "c.preferred_channel = 'email' AND e.granted = 1"
        " AND (SELECT COUNT(*) FROM policies p WHERE p.customer_id = c.customer_id) = 2",
    )
    policy = emailer["last_policy"]
    conf = {"customer_id": emailer["customer_id"], "document_type": "policy_certificate"}
    run = _request(REQUESTED_AT, **conf, policy_id=policy)
    assert run.state == "success"
    (certificate,) = ledger.communications(journey=DAG_ID)
    assert (certificate.status, certificate.channel) == ("sent", "email")
    assert certificate.communication == "policy_certificate"
    assert certificate.route_reason.startswith("preferred channel email")
    assert certificate.business_key == run.run_id, "each request is its own scope"
    (message,) = mail_by_recipient(home / "mail")[emailer["email"]]
    assert policy in message["Subject"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "policy-certificate-letter.pdf"
    assert policy in pdf_text(attachment.get_content())
    assert store.get(certificate.artifact_uri, certificate.artifact_sha256)

    # The same request run again: nothing new is sent or recorded.
    ledger_before = ledger.count()
    assert _request(REQUESTED_AT, **conf, policy_id=policy).state == "success"
    assert len(mail_by_recipient(home / "mail")[emailer["email"]]) == 1
    assert ledger.count() == ledger_before

    # The requested channel (paper) overrides the preference (e-mail).
    paper_run = _request(
        REQUESTED_AT.replace(minute=31),
        customer_id=emailer["customer_id"],
        document_type="duplicate_welcome",
        channel="paper",
    )
    assert paper_run.state == "success"
    (letter,) = ledger.trace(run_id=paper_run.run_id)
    assert (letter.status, letter.channel, letter.communication) == ("sent", "paper", "welcome")
    assert letter.route_reason.startswith("requested channel paper")
    printed = home / "print" / DAG_ID / paper_run.run_id / f"{letter.communication_id}.pdf"
    assert emailer["last_name"] in pdf_text(printed.read_bytes())

    # ... but not consent: SMS without SMS consent is suppressed, with the reason.
    no_sms = _clean_customer(home, report, "s.granted = 0")
    sms_run = _request(
        REQUESTED_AT.replace(minute=32),
        customer_id=no_sms["customer_id"],
        document_type="policy_certificate",
        channel="sms",
    )
    assert sms_run.state == "success"
    (refused,) = ledger.trace(run_id=sms_run.run_id)
    assert refused.status == "suppressed"
    assert "sms: no transactional consent" in refused.reason
    assert sum(len(m) for m in mail_by_recipient(home / "mail").values()) == 1

    # A client retrying a request under its request_id: a second run, no second document.
    retry = {**conf, "request_id": "crm-4711"}
    first, again = (_request(REQUESTED_AT.replace(minute=m), **retry) for m in (40, 41))
    assert first.state == again.state == "success" and first.run_id != again.run_id
    (once,) = ledger.trace(run_id=first.run_id)
    assert once.status == "sent" and once.idempotency_key.endswith("/request-crm-4711")
    assert ledger.trace(run_id=again.run_id) == []
    assert len(mail_by_recipient(home / "mail")[emailer["email"]]) == 2


@pytest.mark.parametrize(
    "conf",
    [
        {"customer_id": "C999999", "document_type": "duplicate_welcome"},
        {"customer_id": "C000002", "document_type": "policy_certificate", "policy_id": "P9999999"},
    ],
    ids=["unknown-customer", "policy-not-the-customers"],
)
def test_request_matching_no_record_fails_before_any_send(journey_env, conf):
    home, _ = journey_env
    run = _request(REQUESTED_AT, **conf)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"handle_request": "failed"}  # validate's failure: no retry
    assert max(ti.try_number for ti in run.get_task_instances()) == 1
    assert mail_by_recipient(home / "mail") == {}
    assert Ledger(f"sqlite:///{home / 'ledger.db'}").communications(journey=DAG_ID) == []
