"""The onboarding reminder in the onboarding extract: who is reminded, on which day."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.sources.extract import extract_journey

JOINED_ON = date(2026, 11, 2)


def extract_day(db: Path, day: date, **params) -> list[dict]:
    """The onboarding extract of the daily run whose data interval is ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return extract_journey(f"sqlite:///{db}", ONBOARDING, start, end, params).to_dict("records")


def incomplete(db: Path, joined_on: date, before: str) -> set[str]:
    """Customers who joined on ``joined_on`` without completing onboarding before ``before``."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            customer_id
            for (customer_id,) in conn.execute(
                "SELECT c.customer_id FROM customers AS c WHERE substr(c.joined_at, 1, 10) = ? "
                "AND NOT EXISTS (SELECT 1 FROM onboarding_progress AS op "
                "WHERE op.customer_id = c.customer_id AND op.completed_at < ?)",
                (joined_on.isoformat(), before),
            )
        }


@pytest.fixture
def core_db(tmp_path: Path) -> Path:
    db = tmp_path / "core.db"
    seed(db, customers=60, seed=3, joined_on=JOINED_ON)
    return db


def test_welcome_rows_keep_their_business_day_key(core_db: Path) -> None:
    rows = extract_day(core_db, JOINED_ON)
    assert rows and {(r["communication"], r["subject_key"]) for r in rows} == {("welcome", None)}


def test_reminder_n_days_after_joining_unless_complete(core_db: Path) -> None:
    reminder_day = JOINED_ON + timedelta(days=7)
    rows = extract_day(core_db, reminder_day)
    assert {r["communication"] for r in rows} == {"onboarding_reminder"}
    assert {r["subject_key"] for r in rows} == {"reminder"}
    reminded = {r["customer_id"] for r in rows}
    assert reminded == incomplete(core_db, JOINED_ON, "2026-11-10 00:00:00")
    # Some customers completed before the reminder day (not reminded), some only after.
    with closing(sqlite3.connect(core_db)) as conn:
        progress = dict(conn.execute("SELECT customer_id, completed_at FROM onboarding_progress"))
    assert any(c in progress and progress[c] for c in reminded), "completed later"
    joined = {r["customer_id"] for r in extract_day(core_db, JOINED_ON)}
    assert joined - reminded, "completed in time"
    # The day before and after: nobody who joined on JOINED_ON.
    for day in (reminder_day - timedelta(days=1), reminder_day + timedelta(days=1)):
        assert not reminded & {r["customer_id"] for r in extract_day(core_db, day)}


def test_completing_between_runs_cancels_the_reminder(core_db: Path) -> None:
    reminder_day = JOINED_ON + timedelta(days=7)
    customer = min(r["customer_id"] for r in extract_day(core_db, reminder_day))
    with closing(sqlite3.connect(core_db)) as conn, conn:
        conn.execute(
            "INSERT OR REPLACE INTO onboarding_progress VALUES (?, '2026-11-09 23:59:59')",
            (customer,),
        )
    assert customer not in {r["customer_id"] for r in extract_day(core_db, reminder_day)}


def test_reminder_delay_is_a_param(core_db: Path) -> None:
    rows = extract_day(core_db, JOINED_ON + timedelta(days=3), reminder_after_days=3)
    assert {r["customer_id"] for r in rows} == incomplete(core_db, JOINED_ON, "2026-11-06 00:00:00")
