"""The verify benchmark: its figures and what each mode checked (no timing thresholds)."""

import json
from pathlib import Path

import pytest

from missiva.devtools import bench_verify


def test_incremental_checks_only_what_came_after_the_verified_head(tmp_path: Path) -> None:
    figures = bench_verify.run(60, 5, tmp_path)
    assert figures["communications"] == 65
    assert (figures["full_checked"], figures["incremental_checked"]) == (65, 5)
    assert figures["full_s"] > 0 and figures["incremental_s"] > 0
    # the seconds are printed to the millisecond, the speedup to 0.1 from the exact times
    full, incremental, half_ms = figures["full_s"], figures["incremental_s"], 0.0005
    low, high = (
        (full - half_ms) / (incremental + half_ms),
        (full + half_ms) / (incremental - half_ms),
    )
    assert low - 0.05 <= figures["speedup"] <= high + 0.05, figures


def test_the_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_verify.main(["--communications", "20", "--new", "2", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["new_since_last_verify"] == 2 and figures["incremental_checked"] == 2
