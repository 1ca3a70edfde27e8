"""The seeder run in other processes (``missiva seed`` under different hash seeds):
component tier, since it starts subprocesses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path


def dump(db_path: Path) -> list[str]:
    """Every statement needed to rebuild the DB (schema and rows)."""
    with closing(sqlite3.connect(db_path)) as conn:
        return list(conn.iterdump())


def test_same_seed_gives_identical_rows_in_other_processes(tmp_path: Path) -> None:
    """Python's hash seed differs per process; the data must not (it_IT cities)."""
    for hash_seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-m", "missiva.cli", "seed", "--db", str(tmp_path / f"{hash_seed}.db"),
             "--customers", "60", "--seed", "7"],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
            capture_output=True,
        )  # fmt: skip
    assert dump(tmp_path / "1.db") == dump(tmp_path / "2.db")
