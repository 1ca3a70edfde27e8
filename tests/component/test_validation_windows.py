"""validate reads the extract a window at a time: the outcome does not depend on the
window, also for expectations that compare rows (a duplicate customer id in another
window is still found)."""

from dataclasses import replace
from datetime import date

import pytest
from support import ONBOARDING_RUN

from missiva import flow
from missiva.devtools.seed import seed
from missiva.flow import extract_stage, staging, validate_stage
from missiva.journeys import ONBOARDING
from missiva.records.keys import business_key
from missiva.records.ledger import Ledger


def _validated(settings, run_id: str) -> tuple[list[int], dict[int, str]]:
    """The valid row ids in chunk order and the quarantined ones with their reasons."""
    run = replace(ONBOARDING_RUN, run_id=run_id, task_id="validate")
    extract_stage(ONBOARDING, run, settings, f"sqlite:///{settings.core_db}")
    chunks = validate_stage(ONBOARDING, run, settings, 16)
    valid = [r["row_id"] for n in chunks for r in staging(run, settings).read_chunk(n)]
    with Ledger(settings.ledger_url) as ledger:
        rows = ledger.for_scope(ONBOARDING.name, business_key(ONBOARDING, run))
    return valid, {c.source_row_id: c.reason for c in rows}


def test_small_windows_give_the_same_outcome(missiva_home, monkeypatch):
    settings = missiva_home
    report = seed(settings.core_db, customers=120, seed=7, joined_on=date(2026, 11, 2))
    assert "duplicate_customer_id" in report.defects.values()

    whole = _validated(settings, "manual__whole")
    monkeypatch.setattr(flow, "VALIDATION_WINDOW", 7)
    windowed = _validated(settings, "manual__windowed")

    assert windowed == whole
    valid, quarantined = whole
    assert set(quarantined) == set(report.defects)
    duplicates = [r for r, kind in report.defects.items() if kind == "duplicate_customer_id"]
    assert all("duplicate customer id" in quarantined[r] for r in duplicates)
    assert not set(valid) & set(quarantined)


@pytest.mark.parametrize("window", [1, 3])
def test_a_batch_failure_stops_before_any_window(missiva_home, monkeypatch, window):
    """A batch-level failure (here: the e-mail pattern fails for most records) raises
    before anything is quarantined or chunked."""
    from missiva.sources.validation import BatchValidationError

    settings = missiva_home
    seed(settings.core_db, customers=20, seed=3, joined_on=date(2026, 11, 2))
    run = replace(ONBOARDING_RUN, task_id="validate")
    extract_stage(ONBOARDING, run, settings, f"sqlite:///{settings.core_db}")
    staged = staging(run, settings)
    columns, records = staged.read_extract()
    staged.write_extract(columns, [{**r, "email": "not an address"} for r in records])
    monkeypatch.setattr(flow, "VALIDATION_WINDOW", window)

    with pytest.raises(BatchValidationError, match="expect_column_values_to_match_regex"):
        validate_stage(ONBOARDING, run, settings, 16)
    with Ledger(settings.ledger_url) as ledger:
        assert ledger.for_scope(ONBOARDING.name, business_key(ONBOARDING, run)) == []
    assert list(staged.space.list_keys("chunk-")) == []
