"""The renewal extract over every daily run of the demo book (a few hundred extracts):
component tier for its run time, the unit tier's 30 s being the budget it would eat."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

from renewal_extract import DEMO_DAY, notices

from missiva.journeys.renewal_notices import RENEWAL_WINDOWS


def test_each_policy_is_noticed_once_per_window_until_it_is_renewed(core_db: Path) -> None:
    with closing(sqlite3.connect(core_db)) as conn:
        book = conn.execute(
            "SELECT p.policy_id, p.end_date, p.status, r.renewed_at FROM policies AS p "
            "JOIN policy_renewals AS r ON r.policy_id = p.policy_id"
        ).fetchall()
    expected = set()
    for policy_id, end_date, status, renewed_at in book:
        for days in RENEWAL_WINDOWS:
            run_day = date.fromisoformat(end_date) - timedelta(days=days)
            interval_end = f"{run_day + timedelta(days=1)} 00:00:00"
            if status == "active" and (renewed_at is None or renewed_at >= interval_end):
                expected.add((run_day, f"{policy_id}/{days}d"))
    first = min(day for day, _ in expected) - timedelta(days=2)
    last = max(day for day, _ in expected) + timedelta(days=2)
    found = [
        (first + timedelta(days=n), row["subject_key"])
        for n in range((last - first).days + 1)
        for row in notices(core_db, first + timedelta(days=n))
    ]
    assert len(found) == len(set(found)), "a notice found twice"
    assert set(found) == expected
    # The demo data covers the boundaries: the day before and after each edge, a policy
    # renewed between its 30-day and 7-day notices, one renewed only after the interval.
    subjects_on = {day: {s for d, s in found if d == day} for day in {d for d, _ in found}}
    assert subjects_on[DEMO_DAY - timedelta(days=1)] and subjects_on[DEMO_DAY + timedelta(days=1)]
    renewed_between = [
        pid
        for pid, end_date, status, renewed_at in book
        if renewed_at
        and date.fromisoformat(end_date) - timedelta(days=30)
        < date.fromisoformat(renewed_at[:10])
        < date.fromisoformat(end_date) - timedelta(days=7)
    ]
    assert renewed_between
    for pid in renewed_between:
        assert any(s == f"{pid}/30d" for _, s in found)
        assert not any(s == f"{pid}/7d" for _, s in found)
