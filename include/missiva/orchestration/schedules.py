"""When scheduled journeys run: right after their data interval, at an hour the
production contact policy allows everywhere Missiva's customers live.

08:30 UTC is after the quiet hours (21:00-08:00 local) of Europe/Rome and Europe/London in
winter and in summer, so a scheduled run delivers its e-mails and SMS at once instead of
deferring them. The cron is in UTC so every interval is exactly one day (or month): a
local-time schedule would leave a one-hour hole in the data when the clocks go back.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronTriggerTimetable
from dateutil.relativedelta import relativedelta

SEND_AT_UTC = "30 8"  # minute hour

#: What the compliance DAGs (``audit_verify``, ``privacy_purge``) share: one run at a time,
#: no catch-up, owned by compliance, retried twice
COMPLIANCE_DAG = {
    "start_date": datetime(2026, 11, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {"owner": "compliance", "retries": 2, "retry_delay": timedelta(minutes=1)},
    "tags": ["audit"],
}


def daily() -> CronTriggerTimetable:
    """Every day at 08:30 UTC, over the 24 hours before."""
    return CronTriggerTimetable(f"{SEND_AT_UTC} * * *", timezone="UTC", interval=timedelta(days=1))


def monthly() -> CronTriggerTimetable:
    """The 1st of every month at 08:30 UTC, over the month before (from 08:30 UTC on its
    1st: the interval's start names the month)."""
    return CronTriggerTimetable(
        f"{SEND_AT_UTC} 1 * *", timezone="UTC", interval=relativedelta(months=1)
    )
