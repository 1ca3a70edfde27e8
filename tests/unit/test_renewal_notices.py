"""The renewal windows: their SQL parameters and the extract of a few daily runs (every
daily run of the demo book: tests/component/test_renewal_notices_daily_runs.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from missiva.devtools.seed import seed
from missiva.journeys.renewal_notices import RENEWAL_NOTICES, RENEWAL_WINDOWS, window_params
from missiva.sources.extract import extract_journey

DEMO_DAY = date(2026, 11, 2)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def notices(db: Path, day: date, windows=RENEWAL_WINDOWS) -> list[dict]:
    """The renewal extract of the daily run whose data interval is ``day``."""
    start, end = _midnight(day), _midnight(day + timedelta(days=1))
    params = {"renewal_windows": list(windows)}
    frame = extract_journey(f"sqlite:///{db}", RENEWAL_NOTICES, start, end, params)
    return frame.to_dict(orient="records")


@pytest.fixture(scope="module")
def core_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("renewals") / "core.db"
    seed(db, customers=40, seed=7, joined_on=DEMO_DAY)
    return db


def test_a_window_notices_the_interval_days_shifted_by_its_length() -> None:
    start, end = _midnight(DEMO_DAY), _midnight(DEMO_DAY + timedelta(days=1))
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
