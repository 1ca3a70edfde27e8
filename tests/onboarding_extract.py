"""The seeded onboarding extract shared by the extract tests (unit tier) and the
validation gate's tests (component tier)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from missiva.devtools.seed import SeedReport, seed
from missiva.journeys import ONBOARDING
from missiva.sources.extract import extract_journey

JOINED_ON = date(2026, 11, 2)
START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(days=1)
SUITE = ONBOARDING.suite
SCHEMA = json.loads(SUITE.read_text())["expectations"][0]["kwargs"]["column_set"]

DEFECT_REASON = {
    "duplicate_customer_id": "expect_column_values_to_be_unique(customer_id)",
    "invalid_email": "expect_column_values_to_match_regex(email)",
    "missing_address": "expect_column_values_to_not_be_null(address_line1)",
    "crlf_in_name": "expect_column_values_to_not_match_regex(first_name)",
    "unsupported_language": "expect_column_values_to_be_in_set(language)",
}
# Clean rows the seeder plants with names that look like attacks or break naive code.
HOSTILE_MARKERS = ("{{ 7*7 }}", "<script>", "Ζωή", "李", "D'Angelo")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> SeedReport:
    return seed(tmp_path_factory.mktemp("core") / "core.db", customers=60, joined_on=JOINED_ON)


@pytest.fixture(scope="module")
def records(seeded: SeedReport) -> list[dict[str, Any]]:
    frame = extract_journey(f"sqlite:///{seeded.db_path}", ONBOARDING, START, END)
    return frame.to_dict(orient="records")
