"""Renewal notices: each active policy is noticed once per window before it expires.

The windows (days before the policy's end date) are a run param, ``renewal_windows``
(default :data:`RENEWAL_WINDOWS`). For a window of N days the extract SQL runs with the
days ``[interval start + N, interval end + N)`` bound, so consecutive daily runs cover
every end date exactly once per window.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from missiva.journey import Journey
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

#: days before the end date at which a notice goes out (first, second and last notice)
RENEWAL_WINDOWS = (60, 30, 7)


def _first_day_from(moment: datetime) -> str:
    """The first calendar day (UTC, 'YYYY-MM-DD') starting at or after ``moment``."""
    day = moment.date()
    if moment.timetz().replace(tzinfo=None) != time():
        day += timedelta(days=1)
    return day.isoformat()


def window_params(
    params: Mapping[str, Any], start: datetime, end: datetime
) -> Sequence[Mapping[str, Any]]:
    """One set of SQL parameters per renewal window: the end dates it notices,
    ``[window_first_day, window_next_day)``, and its label in the subject key."""
    windows = params.get("renewal_windows") or RENEWAL_WINDOWS
    return [
        {
            "window_days": days,
            "window_label": f"{days}d",
            "window_first_day": _first_day_from(start + timedelta(days=days)),
            "window_next_day": _first_day_from(end + timedelta(days=days)),
        }
        for days in sorted({int(d) for d in windows}, reverse=True)
    ]


RENEWAL_NOTICES = Journey(
    name="renewal_notices",
    communication="renewal_notice",
    purpose="transactional",
    # the customer's preferred channel first; then paper, then whatever else works
    channels=("paper", "email", "sms"),
    extract_sql=SQL_DIR / "renewal_notices_extract.sql",
    suite=EXPECTATIONS_DIR / "renewal_notices.json",
    sql_param_sets=window_params,
)
