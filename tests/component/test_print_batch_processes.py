"""Print batches written by two processes at once (component tier: it spawns processes)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from print_letters import batched_ids, six_letters

from missiva.channels.print_batch import Letter, batch_unprinted


@pytest.fixture
def letters() -> list[Letter]:
    return six_letters()


def test_two_processes_batching_at_once_share_the_letters(
    tmp_path: Path, letters: list[Letter]
) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.starmap(
            _batch_in_process, [(letters[:5], tmp_path), (list(reversed(letters)), tmp_path)]
        )
    found = batched_ids(tmp_path)
    assert sorted(c for ids in found.values() for c in ids) == [x.communication_id for x in letters]


def _batch_in_process(letters: list[Letter], folder: Path) -> None:
    batch_unprinted(letters, folder, run_label="r")
