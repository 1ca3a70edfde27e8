"""The renewal windows: their SQL parameters and the extract of a few daily runs (every
daily run of the demo book: tests/component/test_renewal_notices_daily_runs.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from renewal_extract import DEMO_DAY, midnight, notices

from missiva.journeys.renewal_notices import window_params


def test_a_window_notices_the_interval_days_shifted_by_its_length() -> None:
    start, end = midnight(DEMO_DAY), midnight(DEMO_DAY + timedelta(days=1))
    assert window_params({"renewal_windows": [7, 60]}, start, end) == [
        {
            "window_days": 60,
            "window_label": "60d",
            "window_first_day": "2027-01-01",
            "window_next_day": "2027-01-02",
        },
        {
            "window_days": 7,
            "window_label": "7d",
            "window_first_day": "2026-11-09",
            "window_next_day": "2026-11-10",
        },
    ]
    assert [p["window_days"] for p in window_params({}, start, end)] == [60, 30, 7]
    # An interval starting mid-day covers the days whose midnight falls inside it.
    (params,) = window_params({"renewal_windows": [30]}, start + timedelta(hours=6), end)
    assert (params["window_first_day"], params["window_next_day"]) == ("2026-12-03", "2026-12-03")


def test_demo_day_notices_the_policies_ending_on_each_window_edge(core_db: Path) -> None:
    rows = notices(core_db, DEMO_DAY)
    due = {"2027-01-01": 60, "2026-12-02": 30, "2026-11-09": 7}
    assert rows and all(due[r["end_date"]] == r["window_days"] for r in rows)
    assert {r["subject_key"] for r in rows} == {
        f"{r['policy_id']}/{r['window_days']}d" for r in rows
    }
    for row in rows:
        parts = (row["net_premium_cents"], row["tax_cents"], row["fee_cents"])
        assert row["total_premium_cents"] == sum(parts)


def test_the_windows_are_a_parameter(core_db: Path) -> None:
    rows = notices(core_db, DEMO_DAY - timedelta(days=15), windows=[45])
    assert {(r["end_date"], r["window_days"]) for r in rows} == {("2026-12-02", 45)}
