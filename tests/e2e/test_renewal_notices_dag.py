"""The renewal_notices DAG end to end through Airflow (`dag.test()`), real SMTP server.

Who gets which notice on which channel for the demo day, that a re-run sends nothing
new, that the next day notices only the policies one day further out (a window edge is
noticed by exactly one run), and that a policy renewed between its 30-day and 7-day
notices gets no 7-day notice. Slow: Airflow + Great Expectations + WeasyPrint.
"""

import email
import json
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from email.policy import default as default_policy

import pytest
from support import mail_by_recipient, pdf_text, run_dag, sms_by_reference

from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
DEMO_DAY = date(2026, 11, 2)  # the data interval of the run at 2026-11-03


def _run(day: date) -> None:
    """The daily run whose data interval is ``day``."""
    run_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    assert run_dag("renewal_notices", run_at).state == "success"


def _due(core_db, day: date) -> set[str]:
    """The subject keys due on ``day``: active policies with an offer ending 60/30/7
    days later, not renewed by the end of the day (the rule, restated independently)."""
    with closing(sqlite3.connect(core_db)) as conn:
        book = conn.execute(
            "SELECT p.policy_id, p.end_date FROM policies AS p "
            "JOIN policy_renewals AS r ON r.policy_id = p.policy_id "
            "WHERE p.status = 'active' AND (r.renewed_at IS NULL OR r.renewed_at >= ?)",
            (f"{day + timedelta(days=1)} 00:00:00",),
        ).fetchall()
    return {
        f"{policy_id}/{n}d"
        for policy_id, end_date in book
        for n in (60, 30, 7)
        if date.fromisoformat(end_date) == day + timedelta(days=n)
    }


def _subjects(ledger: Ledger) -> dict[str, object]:
    """Ledger rows of the journey by subject (``<policy>/<window>``)."""
    return {
        c.idempotency_key.split("/", 3)[3]: c
        for c in ledger.communications(journey="renewal_notices")
    }


def test_renewal_notices_end_to_end(journey_env):
    home, _ = journey_env
    core_db = home / "core.db"
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    store = sealed(LocalArtifactStore(home / "archive"), ledger)
    _run(DEMO_DAY)

    comms = _subjects(ledger)
    assert set(comms) == _due(core_db, DEMO_DAY) and len(comms) == 9
    assert {c.status for c in comms.values()} == {"sent"}
    assert {c.channel for c in comms.values()} >= {"email", "paper"}
    mail = mail_by_recipient(home / "mail")
    sms_received = sms_by_reference(home / "sms")
    print_dir = home / "print" / "renewal_notices" / "2026-11-02"
    for subject, comm in comms.items():
        policy_id = subject.split("/")[0]
        if comm.channel == "sms":
            (sms,) = sms_received[comm.communication_id]
            assert sms["to"] == comm.recipient and policy_id in sms["text"]
            continue
        if comm.channel == "email":
            (message,) = mail[comm.recipient]
            assert policy_id in message["Subject"]
            (attachment,) = message.iter_attachments()
            assert attachment.get_filename() == "renewal-notice-letter.pdf"
            letter = attachment.get_content()
            archived = store.get(comm.artifact_uri, comm.artifact_sha256)
            as_archived = email.message_from_bytes(archived, policy=default_policy)
            assert as_archived["Message-ID"] == message["Message-ID"]
        else:
            letter = (print_dir / f"{comm.communication_id}.pdf").read_bytes()
            assert letter == store.get(comm.artifact_uri, comm.artifact_sha256)
        text = pdf_text(letter)
        assert policy_id in text
        assert any(word in text for word in ("Total to pay", "Totale da pagare"))
        assert any(word in text for word in ("About your renewal", "Informazioni sul rinnovo"))
        assert json.loads(comm.block_versions)["renewal_disclosure"] == "1"

    # The same run again: nothing new.
    ledger_before, mail_before = ledger.count(), sum(map(len, mail.values()))
    _run(DEMO_DAY)
    assert ledger.count() == ledger_before
    assert sum(map(len, mail_by_recipient(home / "mail").values())) == mail_before

    # The next day: only the policies ending one day further out, none noticed twice.
    next_day = DEMO_DAY + timedelta(days=1)
    _run(next_day)
    new = set(_subjects(ledger)) - set(comms)
    assert new == _due(core_db, next_day) and new
    assert not {s.split("/")[0] for s in new} & {s.split("/")[0] for s in comms}

    # A policy noticed at 30 days is renewed before its 7-day notice: no 7-day notice;
    # the other policies ending that day get theirs.
    thirty = sorted(s.split("/")[0] for s in comms if s.endswith("/30d"))
    with closing(sqlite3.connect(core_db)) as conn, conn:
        conn.execute(
            "UPDATE policy_renewals SET renewed_at = '2026-11-20 11:00:00' WHERE policy_id = ?",
            (thirty[0],),
        )
    before = set(_subjects(ledger))
    seven_day_run = DEMO_DAY + timedelta(days=23)
    _run(seven_day_run)
    new = set(_subjects(ledger)) - before
    assert new == _due(core_db, seven_day_run)
    assert f"{thirty[0]}/7d" not in new
    assert {s for s in new if s.endswith("/7d")}
