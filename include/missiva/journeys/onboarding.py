"""Onboarding: the welcome pack for customers who joined during the interval, and one
reminder ``reminder_after_days`` (default :data:`REMINDER_AFTER_DAYS`) after joining to
those who have not completed onboarding by then."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from missiva.journey import Journey, source_time
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

#: days after joining at which a customer who has not completed onboarding is reminded
REMINDER_AFTER_DAYS = 7


def reminder_params(
    params: Mapping[str, Any], start: datetime, end: datetime
) -> Sequence[Mapping[str, Any]]:
    """The join interval due a reminder: the run's interval, ``reminder_after_days``
    earlier."""
    lag = timedelta(days=int(params.get("reminder_after_days") or REMINDER_AFTER_DAYS))
    return (
        {
            "reminder_joined_start": source_time(start - lag),
            "reminder_joined_end": source_time(end - lag),
        },
    )


ONBOARDING = Journey(
    name="onboarding",
    communication="welcome",
    purpose="transactional",
    channels=("email", "sms", "paper"),
    extract_sql=SQL_DIR / "onboarding_extract.sql",
    suite=EXPECTATIONS_DIR / "onboarding.json",
    other_communications=("onboarding_reminder",),
    sql_param_sets=reminder_params,
)
