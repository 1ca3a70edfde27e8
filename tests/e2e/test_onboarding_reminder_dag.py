"""The onboarding reminder end to end through Airflow (`dag.test()`), real SMTP server.

Customers who joined on 2026-11-02 and have not completed onboarding get one reminder
from the run of 2026-11-10 (interval 2026-11-09, 7 days later); a customer completing
onboarding between the welcome and that run gets none; a re-run and the next day's run
send no second reminder. Slow: Airflow + Great Expectations + WeasyPrint.
"""

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest
from support import mail_by_recipient, pdf_text, run_dag, sms_by_reference

from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
REMINDER_RUN = datetime(2026, 11, 10, tzinfo=UTC)  # interval 2026-11-09: joined 2026-11-02


def _incomplete_on_day(core_db) -> set[str]:
    """Customers who joined on 2026-11-02 and had not completed onboarding by 11-10."""
    with closing(sqlite3.connect(core_db)) as conn:
        return {
            customer_id
            for (customer_id,) in conn.execute(
                "SELECT DISTINCT c.customer_id FROM customers AS c "
                "WHERE c.joined_at LIKE '2026-11-02 %' AND NOT EXISTS ("
                "SELECT 1 FROM onboarding_progress AS op WHERE op.customer_id = c.customer_id "
                "AND op.completed_at < '2026-11-10 00:00:00')"
            )
        }


def test_onboarding_reminder_once_unless_complete(journey_env):
    home, report = journey_env
    core_db = home / "core.db"
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    assert run_dag().state == "success"  # the welcome run of 2026-11-03
    welcomed = {c.customer_id for c in ledger.communications(journey="onboarding")}

    # One customer completes onboarding after the welcome, before the reminder run.
    due = _incomplete_on_day(core_db)
    completing = min(due)
    with closing(sqlite3.connect(core_db)) as conn, conn:
        conn.execute(
            "INSERT OR REPLACE INTO onboarding_progress VALUES (?, '2026-11-06 10:00:00')",
            (completing,),
        )
    assert run_dag(logical_date=REMINDER_RUN).state == "success"

    reminders = {
        c.customer_id: c
        for c in ledger.communications(journey="onboarding")
        if c.communication == "onboarding_reminder"
    }
    assert set(reminders) == due - {completing} and completing in welcomed
    assert all(
        c.idempotency_key.startswith(f"onboarding/onboarding_reminder/{c.customer_id}/reminder")
        for c in reminders.values()
    )
    defective = set(report.defects) | set(report.suppressions)
    sent = [c for c in reminders.values() if c.status == "sent"]
    assert len(sent) >= len(reminders) - len(defective) > 0
    mail = mail_by_recipient(home / "mail")
    sms_received = sms_by_reference(home / "sms")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)
    print_dir = home / "print" / "onboarding" / "2026-11-09"
    for comm in sent:
        if comm.channel == "email":
            subjects = [m["Subject"] for m in mail[comm.recipient]]
            assert any("registrazione" in s or "registration" in s for s in subjects)
        elif comm.channel == "sms":
            (sms,) = sms_received[comm.communication_id]
            assert "registra" in sms["text"]
        else:
            letter = (print_dir / f"{comm.communication_id}.pdf").read_bytes()
            assert letter == store.get(comm.artifact_uri, comm.artifact_sha256)
            assert any(w in pdf_text(letter) for w in ("Complete your", "Completa la"))

    # Re-running it sends no second reminder; the next day reminds nobody who joined
    # on 2026-11-02.
    before = ledger.count()
    assert run_dag(logical_date=REMINDER_RUN).state == "success"
    assert ledger.count() == before
    assert run_dag(logical_date=datetime(2026, 11, 11, tzinfo=UTC)).state == "success"
    assert ledger.count() == before
