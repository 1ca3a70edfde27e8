"""The renewal extract of one daily run on a seeded demo book, shared by the renewal
tests of the unit and component tiers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from missiva.devtools.seed import seed
from missiva.journeys.renewal_notices import RENEWAL_NOTICES, RENEWAL_WINDOWS
from missiva.sources.extract import extract_journey

DEMO_DAY = date(2026, 11, 2)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def notices(db: Path, day: date, windows=RENEWAL_WINDOWS) -> list[dict]:
    """The renewal extract of the daily run whose data interval is ``day``."""
    start, end = midnight(day), midnight(day + timedelta(days=1))
    params = {"renewal_windows": list(windows)}
    frame = extract_journey(f"sqlite:///{db}", RENEWAL_NOTICES, start, end, params)
    return frame.to_dict(orient="records")


@pytest.fixture(scope="module")
def core_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("renewals") / "core.db"
    seed(db, customers=40, seed=7, joined_on=DEMO_DAY)
    return db
