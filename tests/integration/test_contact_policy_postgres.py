"""The contact policy on a real Postgres server: concurrent journeys never exceed a cap.

Each test runs in a database it creates (``missiva_cp_<random>``) and drops. The server:
``MISSIVA_TEST_POSTGRES_URL`` (default the local one, trust auth). When it is
unreachable these tests are skipped, unless ``CI=true``: then they fail.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ledger_fixtures import raw_sql
from sqlalchemy import inspect

from missiva.records.ledger import Ledger
from missiva.records.migrations import HEAD, VERSION_TABLE
from missiva.records.models import Base
from missiva.routing.contact_policy import ContactPolicy, Decision

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # 13:00 in Rome: no quiet hours


@pytest.fixture
def policy(pg_url: str) -> Iterator[ContactPolicy]:
    with ContactPolicy(pg_url) as opened:
        yield opened


def test_the_ledger_migration_creates_the_contact_log(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        assert "contact_log" in inspect(ledger.engine).get_table_names()
        with ledger.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    assert raw_sql(pg_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]


def test_caps_dedup_quiet_hours_and_release(policy: ContactPolicy) -> None:
    def reserve(n: int, at: datetime = T0, **kw: Any) -> Decision:
        args = {
            "customer_id": "C1",
            "channel": "email",
            "purpose": "marketing",
            "content_key": f"k{n}",
            "communication_id": f"c{n}",
            "timezone": "Europe/Rome",
            "now": at,
        }
        return policy.reserve(**{**args, **kw})

    assert reserve(1).allowed
    assert reserve(1, channel="sms", communication_id="c1-sms").reason == (
        "already sent the same content on email (communication c1)"
    )
    assert reserve(2, T0 + timedelta(days=1), channel="paper").allowed
    assert reserve(3, T0 + timedelta(days=2)).reason == (
        "frequency cap: 2 marketing contacts in 7 days"
    )
    deferred = reserve(3, datetime(2026, 11, 2, 22, tzinfo=UTC))  # 23:00 in Rome
    assert (deferred.kind, deferred.not_before) == ("defer", datetime(2026, 11, 3, 7, tzinfo=UTC))
    assert policy.release("c1")
    assert reserve(3, T0 + timedelta(days=2)).allowed
    # timestamps come back in UTC although the session's time zone is New York
    assert [c.at for c in policy.contacts("C1")] == [
        T0 + timedelta(days=1),
        T0 + timedelta(days=2),
    ]


# --- concurrency: several processes, one customer ----------------------------------------


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
                "C1", "email", "transactional", f"k-{worker}-{i}", f"c-{worker}-{i}", "UTC", T0
            )
            results.put(decision.kind)
        channel = ("email", "sms", "paper", "portal")[worker % 4]
        shared = policy.reserve("C2", channel, "marketing", "shared", f"s-{worker}", "UTC", T0)
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


@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_reservations_never_exceed_the_cap(pg_url: str, processes: int) -> None:
    kinds = race(pg_url, processes=processes, items=5)
    assert kinds.count("allow") == 5
    assert kinds.count("suppress") == 5 * processes - 5
    shared = sorted(k for k in kinds if k.startswith("shared"))
    assert shared == ["shared:allow"] + ["shared:suppress"] * (processes - 1)
    counts = "SELECT customer_id, COUNT(*) FROM contact_log GROUP BY 1 ORDER BY 1"
    assert raw_sql(pg_url, counts) == [("C1", 5), ("C2", 1)]
