"""The ledger on a real Postgres server (psycopg 3): migrations, audit queries, the chain.

Each test runs in a database it creates (``missiva_test_<random>``) and drops. The
server: ``MISSIVA_TEST_POSTGRES_URL`` (default the local one, trust auth). When it is
unreachable these tests are skipped, unless ``CI=true``: then they fail.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ledger_fixtures import (
    T0,
    TABLES,
    cid,
    email_fields,
    open_at_once,
    raw_sql,
    recorded_statements,
    send,
)
from sqlalchemy import insert, inspect

import missiva.routing.contact_policy  # noqa: F401  (declares contact_log on Base.metadata)
from missiva.records.chain import Anchor
from missiva.records.errors import LedgerSchemaError
from missiva.records.ledger import Ledger
from missiva.records.migrations import HEAD, VERSION_TABLE
from missiva.records.models import Base, Communication, Event, row_digest


@pytest.fixture
def ledger(pg_url: str) -> Iterator[Ledger]:
    with Ledger(pg_url) as opened:
        yield opened


@pytest.fixture
def sent_ledger(ledger: Ledger) -> Ledger:
    """Privacy clause v3 in 1, 2, 4 (sent on days 0, 1, 2), v4 in 3 (day 1); 5 unsent."""
    for n, version in [(1, "3"), (2, "3"), (3, "4"), (4, "3"), (5, "3")]:
        assert ledger.add(**email_fields(n), blocks={"privacy": version})
    for n, day in [(1, 0), (2, 1), (3, 1), (4, 2)]:
        send(ledger, n, T0 + timedelta(days=day))
    return ledger


# --- migrations -----------------------------------------------------------------------


def test_open_migrates_to_head_and_reopening_is_a_single_query(pg_url: str) -> None:
    with Ledger(pg_url) as ledger:
        assert set(inspect(ledger.engine).get_table_names()) == TABLES
        with ledger.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    assert raw_sql(pg_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]
    with recorded_statements() as statements, Ledger(pg_url):
        pass
    assert statements == [f"SELECT version_num FROM {VERSION_TABLE}"]


def test_an_unknown_revision_is_refused(pg_url: str) -> None:
    Ledger(pg_url).close()
    raw_sql(pg_url, f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(LedgerSchemaError, match="unknown to this version"):
        Ledger(pg_url)


def test_two_processes_open_a_fresh_database_at_once(pg_url: str) -> None:
    assert open_at_once(pg_url) == [0, 0]
    assert raw_sql(pg_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]
    with Ledger(pg_url) as ledger:
        assert ledger.add(**email_fields(1))
        assert ledger.verify_chain() == []


# --- queries --------------------------------------------------------------------------


def test_clause_recipients_by_version_and_dates(sent_ledger: Ledger) -> None:
    def ids(version: str | None, **kw: Any) -> list[str]:
        return [c.communication_id for c in sent_ledger.clause_recipients("privacy", version, **kw)]

    day = timedelta(days=1)
    assert ids("3") == [cid(1), cid(2), cid(4)]
    assert ids("4") == [cid(3)]
    assert ids(None) == [cid(1), cid(2), cid(3), cid(4)]
    assert ids("3", since=T0 + day) == [cid(2), cid(4)]
    assert ids("3", since=T0 + day, until=T0 + 2 * day) == [cid(2)]
    assert ids("3", until=datetime(2026, 11, 2, 9, 0, 1)) == [cid(1)]  # naive = UTC
    assert sent_ledger.clause_recipients("privacy", "3")[1].channel == "email"
    assert sent_ledger.blocks(cid(3)) == {"privacy": "4"}


def test_timestamps_are_utc_whatever_the_session_time_zone(sent_ledger: Ledger) -> None:
    row = sent_ledger.get(cid(1))
    assert row.sent_at == T0 and row.sent_at.utcoffset() == timedelta(0)
    assert all(e.at.utcoffset() == timedelta(0) for e in sent_ledger.events())
    assert sent_ledger.trace("C000001")[0].as_dict()["sent_at"] == "2026-11-02T09:00:00+00:00"


def test_every_event_records_the_row_digest(sent_ledger: Ledger) -> None:
    last = sent_ledger.events(cid(2))[-1]
    assert json.loads(last.detail)["row_digest"] == row_digest(sent_ledger.get(cid(2)))


def test_look_ups_by_more_values_than_postgres_binds_at_once(ledger: Ledger) -> None:
    """Postgres binds at most 65,535 parameters per statement: 70,000 keys, provider
    ids and customers are looked up in bounded chunks."""
    n = 70_000
    rows = [
        {
            **email_fields(i, provider_message_id=f"Q{i}", status="sent"),
            "created_at": T0,
            "updated_at": T0,
        }
        for i in range(1, n + 1)
    ]
    bounce = {"communication_id": cid(n), "kind": "hard_bounce", "detail": "{}", "at": T0}
    with ledger.engine.begin() as conn:  # behind the ledger's back: fast, no chain needed
        conn.execute(insert(Communication), rows)
        conn.execute(insert(Event), [{**bounce, "prev_hash": "0" * 64, "hash": "1" * 64}])
    keys = [row["idempotency_key"] for row in rows]
    found = ledger.by_keys(keys)
    assert len(found) == n and found[keys[-1]].communication_id == cid(n)
    by_id = ledger.by_provider_message_ids(f"Q{i}" for i in range(1, n + 1))
    assert len(by_id) == n and by_id[f"Q{n}"][0].communication_id == cid(n)
    invalid = ledger.invalid_contacts(row["customer_id"] for row in rows)
    assert invalid == {rows[-1]["customer_id"]: {("email", rows[-1]["recipient"])}}


# --- tamper detection -----------------------------------------------------------------


def test_an_intact_ledger_verifies(sent_ledger: Ledger) -> None:
    assert sent_ledger.verify_chain(since=Anchor(*astuple(sent_ledger.head())), batch_size=3) == []


def test_verify_detects_an_edited_event(sent_ledger: Ledger, pg_url: str) -> None:
    raw_sql(pg_url, "UPDATE events SET detail = :d WHERE event_id = 6", d='{"task_id": "x"}')
    assert sent_ledger.verify_chain() == [
        "event 6: content does not match its hash (edited or re-hashed without the key)"
    ]


def test_verify_detects_a_deleted_event(sent_ledger: Ledger, pg_url: str) -> None:
    raw_sql(pg_url, "DELETE FROM events WHERE event_id = 6")
    assert sent_ledger.verify_chain() == [
        "event 7: broken hash link, prev_hash does not match the hash of event 5 "
        "(an event was deleted, inserted or re-hashed)"
    ]


def test_verify_detects_an_edited_communication_row(sent_ledger: Ledger, pg_url: str) -> None:
    raw_sql(pg_url, "UPDATE communications SET recipient = 'x' WHERE customer_id = 'C000002'")
    sent_event = sent_ledger.events(cid(2))[-1].event_id
    assert sent_ledger.verify_chain() == [
        f"communication {cid(2)}: row differs from the digest recorded in event {sent_event} "
        "(the row was edited)"
    ]


def test_verify_detects_an_edited_clause_row(sent_ledger: Ledger, pg_url: str) -> None:
    raw_sql(
        pg_url,
        "UPDATE communication_blocks SET version = '4' WHERE communication_id = :c",
        c=cid(1),
    )
    (problem,) = sent_ledger.verify_chain()
    assert problem.startswith(f"communication {cid(1)}: communication_blocks")


# --- concurrency ----------------------------------------------------------------------

WRITERS, EACH, SHARED = 4, 15, 10


def _writer(url: str, offset: int, barrier: Any, results: Any) -> None:
    """Record and send this writer's own communications, and race for the shared ones."""
    with Ledger(url) as ledger:
        barrier.wait(timeout=60)
        won = 0
        for n in range(EACH):
            mine = offset + n
            assert ledger.add(**email_fields(mine), blocks={"privacy": "3"})
            if n < SHARED:  # every writer tries to record the same communication n
                won += ledger.add(**email_fields(n))
            ledger.transition(cid(mine), "composed", "sending")
            ledger.transition(cid(mine), "sending", "sent", sent_at=datetime.now(UTC))
        results.put(won)


def test_four_processes_append_one_intact_chain(pg_url: str) -> None:
    Ledger(pg_url).close()
    # fork: children start at once without re-importing (each opens its own engine)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(pg_url, 1000 * (k + 1), barrier, results))
        for k in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert sum(results.get(timeout=5) for _ in procs) == SHARED  # each shared key once

    with Ledger(pg_url) as ledger:
        events = ledger.events()
        assert len(events) == WRITERS * EACH * 3 + SHARED
        assert ledger.count() == WRITERS * EACH + SHARED
        # one chain: every event follows exactly one predecessor, none is followed twice
        assert len({e.prev_hash for e in events}) == len(events)
        assert ledger.verify_chain() == []
        assert len(ledger.clause_recipients("privacy", "3")) == WRITERS * EACH
