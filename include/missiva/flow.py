"""The stages of a journey run before delivery, free of Airflow: extract, validate, compose.

Each stage is idempotent: the ledger's unique idempotency key decides whether a
communication already exists (delivery: :mod:`missiva.delivery.outbox`).
"""

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from itertools import islice
from typing import Any

from missiva.composition import Provenance
from missiva.composition.assets import AssetAccessError
from missiva.composition.errors import RegulatoryBlockError, SmsLimitError
from missiva.composition.renditions import channel_artifact
from missiva.journey import Journey
from missiva.privacy.erase import erased_suppression
from missiva.privacy.sealing import SealedStore, sealed
from missiva.records.keys import (
    COPY_MARK,
    business_key,
    communication_id,
    copy_key,
    idempotency_key,
    quarantine_key,
)
from missiva.records.ledger import Batch, Ledger
from missiva.records.models import Communication
from missiva.records.models import canonical_json as ledger_json
from missiva.records.status import COMPOSED, FAILED, QUARANTINED, SUPPRESSED
from missiva.records.store import ArtifactStore, open_store
from missiva.records.workspace import workspace
from missiva.routing.rules import Route, route, routing_inputs
from missiva.run_context import RunContext
from missiva.settings import Settings
from missiva.sources.extract import stream_records
from missiva.sources.staging import Staging, chunk_size_within
from missiva.sources.validation import SuiteGate

log = logging.getLogger(__name__)

#: chunks a run may be cut into: Airflow's default ``[core] max_map_length``
DEFAULT_MAX_CHUNKS = 1024
#: faults of the system, not of one record: they fail the task (its retry resumes)
SYSTEMIC_FAULTS = (OSError, MemoryError, RegulatoryBlockError)
#: faults of the record's data: the communication is quarantined
DATA_FAULTS = (SmsLimitError, UnicodeError, AssetAccessError)
REASON_CHARS = 500
#: communications recorded per ledger transaction
LEDGER_BATCH = 500
#: composed communications recorded per ledger transaction (a retry composes again at
#: most these, unrecorded when the task died)
COMPOSE_BATCH = 50
#: records checked at a time by the row-wise expectations (the validate task's memory)
VALIDATION_WINDOW = 10_000


def composition_failure(exc: Exception) -> tuple[str, str]:
    """The status and reason recorded for a communication that could not be composed."""
    if isinstance(exc, DATA_FAULTS):
        status, why = QUARANTINED, f"cannot be composed from this record: {exc}"
    else:
        status, why = FAILED, f"composition failed: {type(exc).__name__}: {exc}"
    return status, why if len(why) <= REASON_CHARS else why[: REASON_CHARS - 3] + "..."


def batched(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """``items`` in lists of ``size`` (the last shorter)."""
    rest = iter(items)
    while part := list(islice(rest, size)):
        yield part


def canonical_json(record: dict[str, Any]) -> bytes:
    """The input record as archived: the ledger's canonical JSON, UTF-8."""
    return ledger_json(record).encode()


def _base_fields(
    journey: Journey,
    run: RunContext,
    record: dict[str, Any],
    key: str,
    store: SealedStore,
    withheld: dict[str, Any] | None = None,
) -> dict:
    """What every ledger row carries, the input record archived as canonical JSON (sealed
    under the customer's key); ``withheld``: archived in its place, in the clear (what is
    kept of an erased customer's record)."""
    if withheld is None:
        owner = record.get("customer_id")
        data = store.put(canonical_json(record), content_type="application/json", owner=owner)
    else:
        data = store.put(canonical_json(withheld), content_type="application/json")
    return {
        "communication_id": communication_id(key),
        "idempotency_key": key,
        "journey": journey.name,
        "communication": journey.requested(record),
        "business_key": business_key(journey, run),
        "customer_id": record.get("customer_id"),
        "source_row_id": record.get("row_id"),
        "data_sha256": data.sha256,
        "input_uri": data.uri,
        "consent_state": routing_inputs(record, journey.purpose),
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "task_id": run.task_id,
        "try_number": run.try_number,
    }


def staging(run: RunContext, settings: Settings, store: ArtifactStore | None = None) -> Staging:
    """The run's staging area: beside the archive (S3) or in ``settings.staging_dir``."""
    store = store or open_store(settings.archive_url)
    return Staging(workspace(store, settings.staging_dir, "staging"), run.dag_id, run.run_id)


def extract_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    source_url: str,
    *,
    store: ArtifactStore | None = None,
) -> int:
    """Stream the interval's records into staging; record the count in the ledger."""
    batches = stream_records(source_url, journey, run.interval_start, run.interval_end, run.params)
    extracted = staging(run, settings, store).write_extract_parts(batches)
    with Ledger(settings.ledger_url) as ledger:
        ledger.record_run(
            dag_id=run.dag_id,
            run_id=run.run_id,
            journey=journey.name,
            business_key=business_key(journey, run),
            interval_start=run.interval_start,
            interval_end=run.interval_end,
            extracted=extracted,
        )
    log.info("extracted %d records for [%s, %s)", extracted, run.interval_start, run.interval_end)
    return extracted


def _made_by(comm: Communication, run: RunContext, scope: str) -> bool:
    """Whether ``comm`` is the run's own (recorded by an earlier try of it)."""
    return (comm.business_key, comm.dag_id, comm.run_id) == (scope, run.dag_id, run.run_id)


def validate_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk_size: int,
    *,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    store: ArtifactStore | None = None,
) -> list[int]:
    """Gate the batch, quarantine failing records, cut the valid ones into at most
    ``max_chunks`` chunks of ``chunk_size`` (larger when needed to stay within).

    The extract is read twice, never whole: once for the batch-level and cross-row
    expectations (only the columns they read), then a window at a time for the rest,
    each window's valid records going to the chunks as they fill.

    A record whose communication another run already recorded (its subject found again
    by another day, or a manual run overlapping a scheduled one) is neither quarantined
    nor composed again: it is counted as handled before."""
    store = store or open_store(settings.archive_url)
    staged = staging(run, settings, store)
    gate = SuiteGate(journey.suite, staged.columns())
    extracted = gate.check_whole(staged.extract_records())
    size = chunk_size_within(extracted, chunk_size, max_chunks)
    if size != chunk_size:
        log.warning(
            "chunk size %d grown to %d: %d records in chunks of %d would exceed %d chunks",
            chunk_size,
            size,
            extracted,
            chunk_size,
            max_chunks,
        )
    with Ledger(settings.ledger_url) as ledger:
        valid = _gated(journey, run, gate, staged.extract_records(), ledger, sealed(store, ledger))
        return staged.write_chunks(valid, size)


def _gated(
    journey: Journey,
    run: RunContext,
    gate: SuiteGate,
    records: Iterable[dict[str, Any]],
    ledger: Ledger,
    sealing: SealedStore,
) -> Iterator[dict[str, Any]]:
    """The valid records not handled before, a window at a time; records each window's
    quarantined ones as it goes, and at the end how many were handled before."""
    scope = business_key(journey, run)
    counts = Counter()
    for window in batched(records, VALIDATION_WINDOW):
        outcome = gate.check_window(window)
        keys = {int(r["row_id"]): idempotency_key(journey, run, r) for r in window}
        quarantine_keys = {row: quarantine_key(key, row) for row, key in keys.items()}
        known = ledger.by_keys([*keys.values(), *quarantine_keys.values()])
        elsewhere = {
            row
            for row in keys
            if any(
                k in known and not _made_by(known[k], run, scope)
                for k in (keys[row], quarantine_keys[row])
            )
        }
        quarantined = (
            {
                **_base_fields(journey, run, record, quarantine_keys[row], sealing),
                "status": QUARANTINED,
                "reason": "; ".join(outcome.quarantined[row]),
            }
            for record in window
            if (row := int(record["row_id"])) in outcome.quarantined and row not in elsewhere
        )
        for part in batched(quarantined, LEDGER_BATCH):
            ledger.add_many(part)
        counts.update(records=len(window), valid=len(outcome.valid), handled_before=len(elsewhere))
        yield from (r for r in outcome.valid if int(r["row_id"]) not in elsewhere)
    ledger.record_handled_before(run.dag_id, run.run_id, counts["handled_before"])
    log.info(
        "validated %d records: %d valid, %d quarantined, %d handled before",
        counts["records"],
        counts["valid"],
        counts["records"] - counts["valid"],
        counts["handled_before"],
    )


class Composition:
    """Renders and archives one communication for its routed channel."""

    def __init__(
        self,
        journey: Journey,
        run: RunContext,
        settings: Settings,
        store: ArtifactStore | None = None,
    ) -> None:
        from missiva.composition import Composer

        self.journey, self.run, self.settings = journey, run, settings
        self.composer = Composer(settings.templates_dir)
        for communication in journey.communications:  # refuses a draft up front
            self.composer.template_version(communication)
        self.store = store or open_store(settings.archive_url)

    def artifact(
        self, record: dict[str, Any], comm_id: str, chosen: Route
    ) -> tuple[bytes, str, Provenance, dict[str, str]]:
        """The exact bytes to deliver, their content type, and what rendered them."""
        context = {
            **record,
            "communication_id": comm_id,
            "letter_date": self.run.interval_end.date(),
        }
        communication = self.journey.communication_for(record)
        return channel_artifact(
            self.composer, communication, self.settings, context, chosen, self.run.interval_end
        )

    def __call__(
        self,
        ledger: Ledger | Batch,
        record: dict[str, Any],
        key: str,
        chosen: Route | None = None,
        invalid: Collection[tuple[str, str]] = (),
    ) -> str:
        """Record the communication ``key`` as composed (or suppressed), once; ``invalid``
        are the customer's (channel, address) pairs that hard-bounced before. A record
        that cannot be routed or rendered ends ``failed`` or ``quarantined`` with the
        reason (:func:`composition_failure`); only :data:`SYSTEMIC_FAULTS` raise. An
        erased customer is suppressed without archiving anything
        (:func:`~missiva.privacy.erase.erased_suppression`)."""
        store = sealed(self.store, ledger)
        erased = erased_suppression(store.keyring, record)
        if erased is not None:
            withheld, reason = erased
            fields = _base_fields(self.journey, self.run, record, key, store, withheld)
            ledger.add(**fields, status=SUPPRESSED, reason=reason)
            return SUPPRESSED
        fields = _base_fields(self.journey, self.run, record, key, store)
        communication = self.journey.communication_for(record)
        try:
            chosen = chosen or route(
                record,
                self.journey.channels,
                self.journey.purpose,
                required_channel=self.journey.required_channel(communication),
                requested_channel=record.get("requested_channel"),
                invalid=invalid,
            )
            rendered = (
                None
                if chosen.suppressed
                else self.artifact(record, fields["communication_id"], chosen)
            )
        except SYSTEMIC_FAULTS:
            raise
        except Exception as exc:  # this record's: record it, the chunk goes on
            status, reason = composition_failure(exc)
            where = {"channel": chosen.channel, "recipient": chosen.recipient} if chosen else {}
            ledger.add(**fields, **where, status=status, reason=reason)
            log.warning("communication %s %s: %s", fields["communication_id"], status, reason)
            return status
        if rendered is None:
            ledger.add(**fields, status=SUPPRESSED, reason=chosen.reason)
            return SUPPRESSED
        return self._record(ledger, record, key, fields, chosen, rendered)

    def _record(
        self,
        ledger: Ledger | Batch,
        record: dict[str, Any],
        key: str,
        fields: dict,
        chosen: Route,
        rendered: tuple[bytes, str, Provenance, dict[str, str]],
    ) -> str:
        """Archive the rendered bytes and record the communication ``composed`` (and
        compose its copies)."""
        data, content_type, provenance, blocks = rendered
        communication = self.journey.communication_for(record)
        comm_id = fields["communication_id"]
        metadata = {"journey": self.journey.name, "communication-id": comm_id}
        archived = sealed(self.store, ledger).put(
            data, content_type=content_type, metadata=metadata, owner=record.get("customer_id")
        )
        ledger.add(
            **fields,
            status=COMPOSED,
            channel=chosen.channel,
            recipient=chosen.recipient,
            route_reason=chosen.reason,
            template=provenance.template,
            template_version=provenance.template_version,
            blocks=blocks,
            artifact_uri=archived.uri,
            artifact_sha256=archived.sha256,
        )
        if COPY_MARK not in key:
            for channel in self.journey.copies.get(communication, ()):
                reason = f"a copy of every {communication} goes to the {channel}"
                copy = Route(channel, record["customer_id"], reason)
                self(ledger, record, copy_key(key, channel), copy)
        return COMPOSED


def compose_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk: int,
    *,
    store: ArtifactStore | None = None,
) -> dict:
    """Route, render and archive every record of a chunk not yet in the ledger."""
    store = store or open_store(settings.archive_url)
    records = staging(run, settings, store).read_chunk(chunk)
    keys = {idempotency_key(journey, run, r): r for r in records}
    with Ledger(settings.ledger_url) as ledger:
        existing = ledger.by_keys(keys)
        todo = [(k, r) for k, r in keys.items() if k not in existing]
        counts = Counter({"already_recorded": len(keys) - len(todo)})
        if todo:
            composition = Composition(journey, run, settings, sealed(store, ledger))
            invalid = ledger.invalid_contacts([r["customer_id"] for _, r in todo])
            with ledger.batch(COMPOSE_BATCH) as pending:
                counts.update(
                    composition(
                        pending, record, key, invalid=invalid.get(record["customer_id"], ())
                    )
                    for key, record in todo
                )
    log.info("chunk %d composed: %s", chunk, dict(counts))
    return dict(counts)
