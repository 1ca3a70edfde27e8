"""Chunk sizing: a run is never cut into more chunks than Airflow can map."""

import pytest

from missiva.sources.staging import chunk_size_within


def chunks(records: int, size: int) -> int:
    return -(-records // size)


@pytest.mark.parametrize(
    ("records", "requested", "max_chunks", "expected"),
    [
        (0, 500, 1024, 500),  # nothing to cut: the size asked for
        (1000, 500, 1024, 500),  # well within
        (512_000, 500, 1024, 500),  # exactly 1,024 chunks of 500
        (512_001, 500, 1024, 501),  # one more record: chunks grow by one
        (10_000_000, 500, 1024, 9766),  # 10 million records a run
        (7, 1, 3, 3),
    ],
)
def test_chunk_size_grows_only_past_the_cap(records, requested, max_chunks, expected):
    size = chunk_size_within(records, requested, max_chunks)
    assert size == expected
    assert chunks(records, size) <= max_chunks
    if size > requested:  # the smallest size within the cap
        assert chunks(records, size - 1) > max_chunks


@pytest.mark.parametrize(("requested", "max_chunks"), [(0, 1024), (500, 0)])
def test_nonsense_sizes_are_refused(requested, max_chunks):
    with pytest.raises(ValueError, match="must be >= 1"):
        chunk_size_within(10, requested, max_chunks)
