"""A subject found again by a run of another day (here: the reminder delay changed from
7 to 8 days) is not sent twice, and that run still adds up in its report."""

from datetime import UTC, date, datetime, timedelta

from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.run_context import RunContext


def _run(composed_run, settings, day: date, smtp: SmtpSettings, **params) -> RunContext:
    """Compose and deliver the onboarding day ``day`` (the core DB as it is)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    run = RunContext(
        "onboarding", f"manual__{day}", "t", 1, start, start + timedelta(days=1), params
    )
    for chunk in composed_run(settings, run=run).chunks:
        dispatch.deliver_stage(ONBOARDING, run, settings, chunk, lambda: smtp)
    return run


def test_a_subject_handled_by_an_earlier_day_is_counted_not_resent(
    missiva_home, smtp_server_factory, composed_run
):
    settings = missiva_home
    seed(settings.core_db, customers=30, seed=11, joined_on=date(2026, 11, 2))
    with smtp_server_factory() as server:
        smtp = SmtpSettings(server.host, server.port, timeout=10)
        first = _run(composed_run, settings, date(2026, 11, 9), smtp, reminder_after_days=7)
        sent_first = len(server.handler.messages)
        second = _run(composed_run, settings, date(2026, 11, 10), smtp, reminder_after_days=8)
        assert len(server.handler.messages) == sent_first, "nobody reminded twice"

    ledger = Ledger(settings.ledger_url)
    reminders = [c for c in ledger.communications() if c.communication == "onboarding_reminder"]
    assert reminders and {c.business_key for c in reminders} == {"2026-11-09"}
    earlier = summarize(ledger, "onboarding", first.run_id)
    assert earlier.handled_before == 0 and earlier.accounted == earlier.extracted
    again = summarize(ledger, "onboarding", second.run_id)
    # the customers who joined on 2026-11-02 were all handled on 2026-11-09
    assert again.extracted > 0 and again.handled_before == again.extracted
    assert again.accounted == again.extracted
    assert (
        f"  already handled by an earlier run: {again.extracted} (not sent again)" in again.lines()
    )
