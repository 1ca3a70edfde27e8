"""Deferred deliveries: what the contact policy held back, sent in chunks when due.

:func:`stage_due` cuts the ``deferred`` communications due now into chunks of ids in
the delivering run's staging; :func:`deliver_due_chunk` sends one chunk through the
outbox of the journey run that composed each communication (a chunk is a mapped task);
:func:`print_late_batches` then puts the letters among them into late print batches.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from missiva.channels import registry
from missiva.delivery.outbox import (
    Providers,
    _clock,
    _Outbox,
    _providers,
    delivering,
)
from missiva.flow import DEFAULT_MAX_CHUNKS, staging
from missiva.journey import Journey
from missiva.print_stage import print_stage
from missiva.records.ledger import Ledger
from missiva.records.status import DEFERRED, SENDING, SENT
from missiva.records.store import ArtifactStore, open_store
from missiva.run_context import RunContext
from missiva.settings import Settings
from missiva.sources.staging import chunk_size_within

log = logging.getLogger(__name__)

#: deferred communications one mapped task delivers, unless the run says otherwise
DEFERRED_CHUNK_SIZE = 500


def _origin(ledger: Ledger, run: RunContext, dag_id: str, run_id: str) -> RunContext:
    """``run`` (the task delivering) acting for the journey run ``dag_id``/``run_id``."""
    journey_run = ledger.get_run(dag_id, run_id)
    return replace(
        run,
        dag_id=dag_id,
        run_id=run_id,
        interval_start=journey_run.interval_start,
        interval_end=journey_run.interval_end,
    )


def _staged_ids(run: RunContext, settings: Settings, store: ArtifactStore, chunk: int) -> list:
    return [r["communication_id"] for r in staging(run, settings, store).read_chunk(chunk)]


def stage_due(
    journeys: Iterable[Journey],
    run: RunContext,
    settings: Settings,
    chunk_size: int = DEFERRED_CHUNK_SIZE,
    *,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    store: ArtifactStore | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Cut the journeys' deferred communications due at ``now`` (oldest first) into
    chunks of ``chunk_size`` ids (more per chunk past ``max_chunks``); their numbers."""
    names = {j.name for j in journeys}
    with Ledger(settings.ledger_url) as ledger:
        due = [
            {"communication_id": c.communication_id}
            for c in ledger.due_deferred(_clock(now)())
            if c.journey in names
        ]
    size = chunk_size_within(len(due), chunk_size, max_chunks)
    log.info("deferred communications due: %d, in chunks of %d", len(due), size)
    return staging(run, settings, store or open_store(settings.archive_url)).write_chunks(due, size)


def deliver_due_chunk(
    journeys: Iterable[Journey],
    run: RunContext,
    settings: Settings,
    chunk: int,
    smtp: Callable[[], Any] | None = None,
    *,
    sms: Callable[[], Any] | None = None,
    providers: Providers = MappingProxyType({}),
    store: ArtifactStore | None = None,
    now: datetime | None = None,
) -> dict:
    """Send the chunk's communications still ``deferred`` (a retry skips those sent, and
    recovers those a dead worker left ``sending``), each through the outbox of the
    journey run that composed it; the statuses after."""
    by_name = {j.name: j for j in journeys}
    clock = _clock(now)
    store = store or open_store(settings.archive_url)
    ids = _staged_ids(run, settings, store, chunk)
    with delivering(settings, store, _providers(smtp, sms, providers)) as session:
        ledger, policy, adapters, holds = session
        due = [c for c in map(ledger.get, ids) if c is not None and c.status in (DEFERRED, SENDING)]
        progress = ledger.send_progress(c.communication_id for c in due)
        for comm in due:
            origin = _origin(ledger, run, comm.dag_id, comm.run_id)
            journey = by_name[comm.journey]
            outbox = _Outbox(
                journey, origin, settings, store, ledger, adapters, policy, clock, holds
            )
            if comm.status == SENDING:
                outbox.recover(comm, progress.get(comm.communication_id))
            else:
                outbox.deliver(comm)
        counts = Counter(ledger.get(c.communication_id).status for c in due)
    log.info("deferred chunk %d: %d due, now %s", chunk, len(due), dict(counts))
    holds.raise_if_any(f"deferred chunk {chunk} ({dict(counts)})")
    return {"due": len(due), **counts}


def print_late_batches(
    journeys: Iterable[Journey],
    run: RunContext,
    settings: Settings,
    chunks: Iterable[int],
    *,
    store: ArtifactStore | None = None,
) -> int:
    """Batch the letters the chunks sent into late print batches of the journey runs
    that composed them; how many runs got one."""
    by_name = {j.name: j for j in journeys}
    store = store or open_store(settings.archive_url)
    printed = registry.names(printed=True)
    runs: dict[tuple[str, str], str] = {}
    with Ledger(settings.ledger_url) as ledger:
        for chunk in chunks:
            for comm in map(ledger.get, _staged_ids(run, settings, store, chunk)):
                if comm is not None and comm.channel in printed and comm.status == SENT:
                    runs[comm.dag_id, comm.run_id] = comm.journey
        origins = [(by_name[j], _origin(ledger, run, *ids)) for ids, j in runs.items()]
    for journey, origin in origins:
        print_stage(journey, origin, settings, store=store)
    return len(origins)


def deliver_deferred(
    journeys: Iterable[Journey],
    run: RunContext,
    settings: Settings,
    smtp: Callable[[], Any] | None = None,
    *,
    sms: Callable[[], Any] | None = None,
    providers: Providers = MappingProxyType({}),
    store: ArtifactStore | None = None,
    now: datetime | None = None,
    chunk_size: int = DEFERRED_CHUNK_SIZE,
) -> dict:
    """Every step in one process (the DAG maps the chunks): stage what is due at
    ``now``, deliver each chunk, batch the letters; the statuses of the due ones."""
    journeys = list(journeys)
    store = store or open_store(settings.archive_url)
    chunks = stage_due(journeys, run, settings, chunk_size, store=store, now=now)
    counts = Counter({"due": 0})
    for chunk in chunks:
        delivered = deliver_due_chunk(
            journeys, run, settings, chunk, smtp, sms=sms, providers=providers, store=store, now=now
        )
        counts.update(delivered)
    print_late_batches(journeys, run, settings, chunks, store=store)
    return dict(counts)
