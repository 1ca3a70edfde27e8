"""The validation gate (the journey's Great Expectations suite) on a seeded extract.

Component tier: Great Expectations is imported on the first ``validate`` call.
"""

from __future__ import annotations

import pytest
from onboarding_extract import (
    DEFECT_REASON,
    HOSTILE_MARKERS,
    SCHEMA,
    SUITE,
)

from missiva.devtools.seed import SeedReport

# --- validate (Great Expectations: slow first import, so share the outcome) ---------


@pytest.fixture(scope="module")
def validation():
    """The validation module, imported once (GX itself loads on the first validate call)."""
    from missiva.sources import validation

    return validation


@pytest.fixture(scope="module")
def outcome(validation, records: list[dict]):
    return validation.validate(records, SUITE)


def test_every_defect_row_is_quarantined_with_its_expectation(seeded: SeedReport, outcome) -> None:
    assert set(seeded.defects.values()) == set(DEFECT_REASON)  # every kind was injected
    for row_id, kind in seeded.defects.items():
        reasons = outcome.quarantined.get(row_id)
        assert reasons, f"row {row_id} ({kind}) was not quarantined"
        assert any(r.startswith(DEFECT_REASON[kind] + ": ") for r in reasons), (kind, reasons)


def test_only_defect_rows_are_quarantined(seeded: SeedReport, records, outcome) -> None:
    assert set(outcome.quarantined) == set(seeded.defects)
    valid_ids = [r["row_id"] for r in outcome.valid]
    assert sorted(valid_ids + list(outcome.quarantined)) == [r["row_id"] for r in records]
    # valid records pass through unchanged
    by_id = {r["row_id"]: r for r in records}
    assert all(r == by_id[r["row_id"]] for r in outcome.valid)


def test_suppressions_are_not_a_data_quality_matter(seeded: SeedReport, outcome) -> None:
    assert not set(seeded.suppressions) & set(outcome.quarantined)


def test_hostile_but_valid_names_are_not_quarantined(records, outcome) -> None:
    hostile = {
        r["row_id"]
        for r in records
        if any(m in f"{r['first_name']} {r['last_name']}" for m in HOSTILE_MARKERS)
    }
    assert len(hostile) == len(HOSTILE_MARKERS)  # all planted in this interval
    assert hostile <= {r["row_id"] for r in outcome.valid}


def test_missing_column_fails_the_batch(validation, records) -> None:
    without_email = [{k: v for k, v in r.items() if k != "email"} for r in records]
    with pytest.raises(validation.BatchValidationError) as caught:
        validation.validate(without_email, SUITE)
    message = str(caught.value)
    assert "expect_table_columns_to_match_set" in message
    assert "'missing': ['email']" in message
    assert "nothing will be sent" in message


def test_mostly_malformed_emails_fail_the_batch(validation, records) -> None:
    broken = [dict(r, email=f"customer{r['row_id']}-at-example.com") for r in records]
    with pytest.raises(
        validation.BatchValidationError, match=r"expect_column_values_to_match_regex\(email\)"
    ):
        validation.validate(broken, SUITE)


def test_duplicate_source_ids_fail_the_batch(validation, records) -> None:
    duplicated = [*records, dict(records[1], customer_id="C999999")]
    with pytest.raises(
        validation.BatchValidationError, match=r"expect_column_values_to_be_unique\(row_id\)"
    ):
        validation.validate(duplicated, SUITE)


def test_empty_batch_validates_with_no_errors(validation) -> None:
    """A day nobody joined: the extract's columns are known even without rows."""
    result = validation.validate([], SUITE, SCHEMA)
    assert result.valid == []
    assert result.quarantined == {}


def test_empty_batch_with_the_wrong_columns_fails(validation) -> None:
    with pytest.raises(validation.BatchValidationError, match="expect_table_columns_to_match_set"):
        validation.validate([], SUITE, [c for c in SCHEMA if c != "email"])
