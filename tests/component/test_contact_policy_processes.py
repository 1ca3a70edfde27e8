"""The contact policy under concurrency: processes racing for one customer's cap on the
same SQLite ledger (component tier: it forks processes)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ledger_fixtures import raw_sql

from missiva.routing.contact_policy import ContactPolicy

# Monday 2 November 2026, 12:00 UTC: 13:00 in Rome, 12:00 in London (no quiet hours)
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ROME = "Europe/Rome"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


# --- concurrency: two processes, one customer -------------------------------------------


def _race(url: str, barrier: Any, results: Any, worker: int, items: int) -> None:
    try:
        _reserve_all(url, barrier, results, worker, items)
    except BaseException as exc:  # report it: the parent fails fast instead of waiting
        results.put(f"error: {exc!r}")
        raise


def _reserve_all(url: str, barrier: Any, results: Any, worker: int, items: int) -> None:
    with ContactPolicy(url) as policy:
        barrier.wait(timeout=60)
        for i in range(items):
            decision = policy.reserve(
                "C1", "email", "transactional", f"k-{worker}-{i}", f"c-{worker}-{i}", ROME, T0
            )
            results.put(decision.kind)
        # and all workers race for one content key on different channels
        channel = ("email", "sms", "paper", "portal")[worker % 4]
        shared = policy.reserve("C2", channel, "marketing", "shared", f"s-{worker}", ROME, T0)
        results.put(f"shared:{shared.kind}")


def race(url: str, processes: int, items: int) -> list[str]:
    """``processes`` processes reserve ``items`` contacts each for C1 at the same moment."""
    ContactPolicy(url).close()  # migrate first: the race is about the policy
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(url, barrier, results, w, items)) for w in range(processes)
    ]
    for p in procs:
        p.start()
    kinds = []
    for _ in range(processes * (items + 1)):
        kinds.append(results.get(timeout=120))
        assert not kinds[-1].startswith("error"), kinds[-1]
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * processes
    return kinds


def test_two_processes_never_exceed_the_cap(url: str) -> None:
    kinds = race(url, processes=2, items=5)
    assert kinds.count("allow") == 5 and kinds.count("suppress") == 5
    assert sorted(k for k in kinds if k.startswith("shared")) == [
        "shared:allow",
        "shared:suppress",
    ]
    assert raw_sql(url, "SELECT COUNT(*) FROM contact_log WHERE customer_id = 'C1'") == [(5,)]
