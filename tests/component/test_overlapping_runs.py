"""A manual run whose data interval overlaps a scheduled run's (same business day) adds
up in its report: what the scheduled run handled is counted as handled before, not as
the manual run's own communications, and nothing is composed twice."""

from datetime import UTC, date, datetime, timedelta

from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.run_context import RunContext

DAY = datetime(2026, 11, 2, tzinfo=UTC)
SCHEDULED = RunContext(
    "onboarding", "scheduled__2026-11-03T00:00:00+00:00", "t", 1, DAY, DAY + timedelta(days=1)
)
# noon to noon: the afternoon of the scheduled day, and the next morning
MANUAL = RunContext(
    "onboarding",
    "manual__2026-11-03T12:00:00+00:00",
    "t",
    1,
    DAY + timedelta(hours=12),
    DAY + timedelta(days=1, hours=12),
)


def test_a_manual_run_overlapping_a_scheduled_day_adds_up(missiva_home, composed_run):
    settings = missiva_home
    first = composed_run(settings, customers=16, seed=3, joined_on=date(2026, 11, 2), run=SCHEDULED)
    overlap = composed_run(settings, run=MANUAL)
    assert 0 < overlap.extracted < first.extracted, "the seed spreads joins over the day"

    ledger = Ledger(settings.ledger_url)
    manual = summarize(ledger, MANUAL.dag_id, MANUAL.run_id)
    assert manual.extracted == overlap.extracted
    assert manual.handled_before == manual.extracted == manual.accounted
    assert not any(c.run_id == MANUAL.run_id for c in ledger.communications())
    scheduled = summarize(ledger, SCHEDULED.dag_id, SCHEDULED.run_id)
    assert scheduled.accounted == scheduled.extracted == first.extracted
    assert scheduled.handled_before == 0
