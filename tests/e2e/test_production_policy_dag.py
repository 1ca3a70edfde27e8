"""Onboarding under the production contact policy (quiet hours 21:00-08:00 local), on a
fixed clock (time-machine; the tasks run in this process under ``dag.test()``).

A run at its scheduled hour delivers every e-mail and SMS at once; a run inside the quiet
hours defers them, and ``deferred_deliveries`` sends each one once, only when the
customer's own morning has come.
"""

import sqlite3
from datetime import UTC, datetime

import pytest
import time_machine
from support import REPO, mail_by_recipient, run_dag

from missiva.records.ledger import Ledger

pytestmark = pytest.mark.e2e
PRODUCTION_POLICY = REPO / "include" / "contact_policy.toml"
SCHEDULED_AT = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)  # the daily run after 2026-11-02
QUIET_RUN_AT = datetime(2026, 11, 3, 5, 0, tzinfo=UTC)  # 06:00 in Rome, 05:00 in London


def _at(moment: datetime, dag_id: str, logical_date: datetime):
    with time_machine.travel(moment, tick=True):
        run = run_dag(dag_id, logical_date=logical_date)
    assert run.state == "success", f"{dag_id} at {moment}"
    return run


def _time_zones(home) -> dict[str, str]:
    with sqlite3.connect(home / "core.db") as conn:
        return dict(conn.execute("SELECT customer_id, timezone FROM customers"))


def test_scheduled_hour_sends_at_once_and_quiet_hours_defer_until_each_morning(
    journey_env, monkeypatch
):
    home, _report = journey_env
    monkeypatch.setenv("MISSIVA_CONTACT_POLICY", str(PRODUCTION_POLICY))
    from missiva.orchestration import schedules

    assert f"{SCHEDULED_AT.minute} {SCHEDULED_AT.hour}" == schedules.SEND_AT_UTC, (
        "the journeys' hour"
    )
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")

    # the scheduled run: its interval is [2026-11-02 08:30, 2026-11-03 08:30) UTC
    scheduled = _at(SCHEDULED_AT, "onboarding", SCHEDULED_AT)
    first = ledger.communications(journey="onboarding")
    assert first and all(c.run_id == scheduled.run_id for c in first)
    assert [c for c in first if c.status == "deferred"] == [], "nothing deferred at 08:30 UTC"
    assert {c.channel for c in first if c.status == "sent"} >= {"email", "sms"}

    # a manual run for the calendar day, at 05:00 UTC: what the scheduled run did not
    # cover (customers who joined before 08:30) is composed, e-mail and SMS deferred
    _at(QUIET_RUN_AT, "onboarding", datetime(2026, 11, 3, tzinfo=UTC))
    before = {c.communication_id for c in first}
    quiet = [
        c for c in ledger.communications(journey="onboarding") if c.communication_id not in before
    ]
    deferred = {c.communication_id: c for c in quiet if c.status == "deferred"}
    assert deferred, "the quiet-hour run deferred its e-mails and SMS"
    assert {c.channel for c in deferred.values()} <= {"email", "sms"}
    assert all(c.status != "sent" or c.channel == "paper" for c in quiet)

    zones = _time_zones(home)
    rome = {i for i, c in deferred.items() if zones[c.customer_id] == "Europe/Rome"}
    london = set(deferred) - rome
    assert rome and london, "the demo's customers live in both time zones"

    def statuses() -> dict[str, str]:
        return {i: ledger.get(i).status for i in deferred}

    hourly = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)  # 07:00 Rome, 06:00 London: quiet
    _at(hourly.replace(minute=30), "deferred_deliveries", hourly)
    assert set(statuses().values()) == {"deferred"}
    seven = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)  # 08:00 Rome, 07:00 London
    _at(seven.replace(minute=30), "deferred_deliveries", seven)
    assert {i for i, s in statuses().items() if s == "sent"} == rome
    eight = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    _at(eight.replace(minute=30), "deferred_deliveries", eight)
    _at(eight.replace(minute=45), "deferred_deliveries", eight.replace(minute=15))
    assert set(statuses().values()) == {"sent"}

    mail = mail_by_recipient(home / "mail")
    for comm in deferred.values():
        if comm.channel == "email":
            (message,) = mail[comm.recipient]  # exactly once, deferred or not
            assert message["Message-ID"] == f"<{comm.communication_id}@missiva.example>"
