"""Staging a streamed extract: each source batch is written as it comes, a retry
replaces an earlier try's parts, and reading gives every record back in order."""

from collections.abc import Iterator
from pathlib import Path

from missiva.sources.staging import Staging

COLUMNS = ["row_id", "name"]


def batches(rows: int, size: int, staging: Staging, seen: list[int]) -> Iterator:
    """``rows`` records ``size`` at a time; records in ``seen`` how many parts were
    already staged when each batch was asked for."""
    for start in range(0, rows, size):
        seen.append(len(staging.space.list_keys("extract-")))
        yield (
            COLUMNS,
            [{"row_id": n, "name": f"n{n}"} for n in range(start, min(rows, start + size))],
        )


def test_parts_are_staged_as_they_come(tmp_path: Path) -> None:
    staging = Staging(tmp_path, "onboarding", "manual__1")
    seen: list[int] = []
    assert staging.write_extract_parts(batches(10, 3, staging, seen)) == 10
    assert seen == [0, 1, 2, 3], "each batch written before the next is fetched"
    columns, records = staging.read_extract()
    assert columns == COLUMNS
    assert [r["row_id"] for r in records] == list(range(10))
    assert [len(part) for part in staging.extract_parts()] == [3, 3, 3, 1]


def test_a_retry_replaces_the_earlier_parts(tmp_path: Path) -> None:
    staging = Staging(tmp_path, "onboarding", "manual__1")
    staging.write_extract_parts(batches(10, 2, staging, []))
    assert staging.write_extract_parts(batches(3, 2, staging, [])) == 3
    assert [r["row_id"] for r in staging.read_extract()[1]] == [0, 1, 2]


def test_an_empty_extract_keeps_its_columns(tmp_path: Path) -> None:
    staging = Staging(tmp_path, "onboarding", "manual__1")
    assert staging.write_extract_parts([(COLUMNS, [])]) == 0
    assert staging.read_extract() == (COLUMNS, [])
