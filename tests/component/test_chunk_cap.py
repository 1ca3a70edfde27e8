"""validate cuts a run into at most ``max_chunks`` chunks (Airflow's max_map_length):
the chunk size grows, the warning says so, and every valid record is in one chunk."""

import logging
from datetime import date

from support import ONBOARDING_RUN

from missiva.devtools.seed import seed
from missiva.flow import extract_stage, staging, validate_stage
from missiva.journeys import ONBOARDING


def test_chunk_size_grows_to_stay_within_max_chunks(missiva_home, caplog):
    settings = missiva_home
    seed(settings.core_db, customers=30, seed=4, joined_on=date(2026, 11, 2))
    extract_stage(ONBOARDING, ONBOARDING_RUN, settings, f"sqlite:///{settings.core_db}")
    with caplog.at_level(logging.WARNING, logger="missiva.flow"):
        chunks = validate_stage(ONBOARDING, ONBOARDING_RUN, settings, 1, max_chunks=3)
    assert chunks == [0, 1, 2]
    staged = staging(ONBOARDING_RUN, settings)
    sizes = [len(staged.read_chunk(n)) for n in chunks]
    valid = sum(sizes)
    assert valid > 3 and max(sizes) == -(-valid // 3)
    assert f"chunk size 1 grown to {max(sizes)}" in caplog.text
