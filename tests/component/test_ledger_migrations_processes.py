"""Ledger migrations under concurrency: processes opening a fresh database at once
(component tier: it forks processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_fixtures import fields, open_at_once, raw_sql

from missiva.records.ledger import Ledger
from missiva.records.migrations import HEAD, VERSION_TABLE


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def stored_revisions(url: str) -> list[str]:
    return [r[0] for r in raw_sql(url, f"SELECT version_num FROM {VERSION_TABLE}")]


def test_two_processes_open_a_fresh_database_at_once(url: str) -> None:
    assert open_at_once(url) == [0, 0]
    assert stored_revisions(url) == [HEAD]
    ledger = Ledger(url)
    assert ledger.add(**fields(1))
    assert ledger.verify_chain() == []
