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
QUIET_INTERVAL_END = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)  # the day before's interval
QUIET_RUN_AT = datetime(2026, 11, 2, 22, 30, tzinfo=UTC)  # 23:30 in Rome, 22:30 in London
SCHEDULED_AT = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)  # the daily run after 2026-11-02


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
    zones = _time_zones(home)

    # the interval ending 2026-11-02 08:30, run late, inside the quiet hours: e-mails and
    # SMS are deferred, letters go out
    _at(QUIET_RUN_AT, "onboarding", QUIET_INTERVAL_END)
    quiet = ledger.communications(journey="onboarding")
    deferred = {c.communication_id: c for c in quiet if c.status == "deferred"}
    assert deferred, "the quiet-hour run deferred its e-mails and SMS"
    assert {c.channel for c in deferred.values()} <= {"email", "sms"}
    assert all(c.status != "sent" or c.channel == "paper" for c in quiet)
    rome = {i for i, c in deferred.items() if zones[c.customer_id] == "Europe/Rome"}
    london = set(deferred) - rome
    assert rome and london, "the demo's customers live in both time zones"

    def statuses() -> dict[str, str]:
        return {i: ledger.get(i).status for i in deferred}

    six = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)  # 07:00 Rome, 06:00 London: quiet
    _at(six.replace(minute=30), "deferred_deliveries", six)
    assert set(statuses().values()) == {"deferred"}
    seven = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)  # 08:00 Rome, 07:00 London
    _at(seven.replace(minute=30), "deferred_deliveries", seven)
    assert {i for i, s in statuses().items() if s == "sent"} == rome

    # the scheduled run at 08:30 UTC, interval [2026-11-02 08:30, 2026-11-03 08:30)
    scheduled = _at(SCHEDULED_AT, "onboarding", SCHEDULED_AT)
    mine = [c for c in ledger.communications(journey="onboarding") if c.run_id == scheduled.run_id]
    assert mine, "the scheduled run found the customers who joined after 08:30"
    assert [c for c in mine if c.status == "deferred"] == [], "nothing deferred at 08:30 UTC"
    assert {c.channel for c in mine if c.status == "sent"} >= {"email"}

    eight = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # 09:00 Rome, 08:00 London
    _at(eight.replace(minute=35), "deferred_deliveries", eight)
    _at(eight.replace(minute=45), "deferred_deliveries", eight.replace(minute=15))
    assert set(statuses().values()) == {"sent"}
    # every run, journey or deferred deliveries, deleted its staging at its end
    assert not [p for p in (home / "staging").rglob("*") if p.is_file()]

    mail = mail_by_recipient(home / "mail")
    for comm in [*deferred.values(), *mine]:
        if comm.channel == "email" and ledger.get(comm.communication_id).status == "sent":
            (message,) = mail[comm.recipient]  # exactly once, deferred or not
            assert message["Message-ID"] == f"<{comm.communication_id}@missiva.example>"
