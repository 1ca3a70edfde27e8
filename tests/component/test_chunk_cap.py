"""validate cuts a run into at most ``max_chunks`` chunks (Airflow's max_map_length):
the chunk size grows, the warning says so, and every valid record is in one chunk.
The size comes from the extracted count (validate streams: it writes chunks before it
knows how many records are valid), so the last chunk may be short."""

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
    staged = staging(ONBOARDING_RUN, settings)
    extracted = len(staged.read_extract()[1])
    sizes = [len(staged.read_chunk(n)) for n in chunks]
    assert chunks == list(range(len(sizes))) and len(chunks) <= 3
    assert 3 < sum(sizes) < extracted  # some were quarantined
    assert max(sizes) == -(-extracted // 3) == sizes[0]
    assert f"chunk size 1 grown to {max(sizes)}" in caplog.text
