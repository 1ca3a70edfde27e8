"""The communications ledger: one row per communication, plus hash-chained events.

Every input record ends here in a final status (:mod:`missiva.records.status`). The
idempotency key is unique, so recording the same communication twice is impossible;
the outbox states ``composed`` -> ``sending`` -> ``sent`` make a send visible before
and after it happens, and :meth:`Ledger.transition` refuses any change the status
machine does not declare.

This module is the write path; the tables are in :mod:`~missiva.records.models`, the
reads in :mod:`~missiva.records.queries`, the hash chain in
:mod:`~missiva.records.chain`, engines, locks and migrations in
:mod:`~missiva.records.database`. ``Ledger(url)`` upgrades the schema to head on open.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from missiva.records import chain_key
from missiva.records.chain import append_event
from missiva.records.database import ADVISORY_LOCK, CHAIN_LOCK, ensure_schema, open_engine
from missiva.records.errors import LeaseLost, LedgerError
from missiva.records.models import (
    Communication,
    CommunicationBlock,
    Event,
    JourneyRun,
    canonical_json,
    detail_value,
    utc_now,
)
from missiva.records.queries import LedgerQueries, _chunks
from missiva.records.send_progress import FALLBACK_OWED, Progress, SendProgress
from missiva.records.status import (
    BOUNCED,
    DELIVERY_REPORTS,
    NOT_HANDED_OVER,
    RELEASED,
    REPORT_EFFECTS,
    check,
    check_known,
)
from missiva.reference import reference_code


class Ledger(LedgerQueries):
    """Transactions over the ledger database (SQLite by default, any SQLAlchemy URL)."""

    def __init__(self, url: str, *, upgrade: bool = True, key: str | None = None) -> None:
        """Open the ledger at ``url``; ``upgrade``: bring its schema to head first;
        ``key``: the chain's key (default: :func:`~missiva.records.chain_key.resolve`)."""
        self.key: bytes = key.encode() if key else chain_key.resolve(url)
        self.engine: Engine = open_engine(url)
        self._postgres = self.engine.dialect.name == "postgresql"
        self._writer = self.engine.execution_options(missiva_write=True)
        if upgrade:
            ensure_schema(self.engine)

    def close(self) -> None:
        """Close the pooled connections (a Postgres server counts them)."""
        self.engine.dispose()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction; appends to the event chain are serialised."""
        with Session(self._writer) as session, session.begin():
            if self._postgres:
                session.execute(ADVISORY_LOCK, {"key": CHAIN_LOCK})
            yield session

    def write(self) -> Any:
        """A write transaction holding the chain's lock, for the tables other modules keep
        in the ledger database (:mod:`missiva.privacy`)."""
        return self._write()

    def record_run(self, **fields: Any) -> None:
        """Record (or refresh on re-run) what a DAG run extracted."""
        with self._write() as session:
            session.merge(JourneyRun(recorded_at=utc_now(), **fields))

    def record_handled_before(self, dag_id: str, run_id: str, count: int) -> None:
        """How many of the run's records an earlier run (another business key) handled."""
        with self._write() as session:
            session.get(JourneyRun, (dag_id, run_id)).handled_before = count

    def add(self, *, blocks: Mapping[str, str] | None = None, **fields: Any) -> bool:
        """Insert a communication unless its idempotency key exists; True if inserted.

        ``blocks``: {block: version} rendered into it; stored as ``block_versions`` and
        as ``communication_blocks`` rows in the same transaction. ``block_versions`` and
        ``consent_state`` may also be given as dicts (stored as canonical JSON).
        """
        row, block_map = _row(blocks, fields)
        try:
            with self._write() as session:
                self._insert(session, row, block_map)
        except IntegrityError:
            if row.idempotency_key is None or not self.by_keys([row.idempotency_key]):
                raise  # not a duplicate: a missing field or a broken constraint
            return False
        return True

    def add_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """:meth:`add` each of ``rows`` (its keyword arguments), all in one transaction
        (one commit and one chain lock for the lot); how many were inserted. Rows whose
        idempotency key exists (or came earlier in ``rows``) are skipped; if a concurrent
        writer inserts one of the keys meanwhile, the rows are added one by one instead."""
        rows = list(rows)
        prepared = [
            _row(row.get("blocks"), {k: v for k, v in row.items() if k != "blocks"}) for row in rows
        ]
        known = self.by_keys(r.idempotency_key for r, _ in prepared if r.idempotency_key)
        todo, seen = [], set(known)
        for row, blocks in prepared:
            if row.idempotency_key not in seen:
                todo.append((row, blocks))
                seen.add(row.idempotency_key)
        try:
            with self._write() as session:
                for row, blocks in todo:
                    self._insert(session, row, blocks)
        except IntegrityError:
            return sum(self.add(**row) for row in rows if row.get("idempotency_key") not in known)
        return len(todo)

    @contextmanager
    def batch(self, size: int) -> Iterator["Batch"]:
        """A :class:`Batch` of adds over this ledger, its rest recorded on leaving."""
        pending = Batch(self, size)
        try:
            yield pending
        finally:
            pending.flush()

    def _insert(self, session: Session, row: Communication, blocks: dict[str, str]) -> None:
        """The row, its blocks and its first event, in ``session``'s transaction."""
        session.add(row)
        session.flush()
        session.add_all(
            CommunicationBlock(communication_id=row.communication_id, block=b, version=v)
            for b, v in sorted(blocks.items())
        )
        session.flush()
        append_event(
            session, self.key, row.communication_id, row.status, reason=row.reason, task=row.task_id
        )

    def transition(
        self,
        communication_id: str,
        expected: str,
        new: str,
        *,
        note: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        held_by: str | None = None,
        **fields: Any,
    ) -> None:
        """Move a communication from ``expected`` to ``new`` status, atomically.

        ``fields`` are columns set on the row; ``note`` goes into the event only (e.g. a
        deferral's ``not_before``). ``progress``: the send's stage and lease, recorded in
        the same transaction (its owner goes into the event). ``held_by``: only while
        this owner holds the send's lease (else :class:`LeaseLost`); without
        ``progress``, the send is over (its progress is removed). Raises :class:`LedgerError` for a
        transition not declared in :mod:`missiva.records.status`, or when the row is not
        ``expected``."""
        if "block_versions" in fields:
            raise LedgerError("block versions are recorded once, by add()")
        check(expected, new)
        now = utc_now()
        row = SendProgress.communication_id == communication_id
        with self._write() as session:
            if held_by is not None:
                holder = session.scalar(select(SendProgress.owner).where(row))
                if holder != held_by:
                    raise LeaseLost(f"{communication_id}: {held_by} no longer holds its send")
            result = session.execute(
                update(Communication)
                .where(Communication.communication_id == communication_id)
                .where(Communication.status == expected)
                .values(status=new, updated_at=now, **fields)
            )
            if result.rowcount != 1:
                raise LedgerError(
                    f"{communication_id} is not {expected!r}; refusing to set {new!r}"
                )
            if progress is not None:
                values = {"communication_id": communication_id, "updated_at": now}
                session.merge(SendProgress(**values, **vars(progress)))
                if progress.owner:
                    note = {**(note or {}), "lease_owner": progress.owner}
            elif held_by is not None:  # the send is over
                session.execute(delete(SendProgress).where(row))
            append_event(session, self.key, communication_id, new, **fields, **(note or {}))

    def record_file(self, communication_id: str, kind: str, **detail: Any) -> None:
        """Chain an event about a file written beside the archive (a print batch's
        manifest, :mod:`missiva.records.work_files`) under a communication it holds; the
        row is unchanged."""
        with self._write() as session:
            append_event(session, self.key, communication_id, kind, **detail)

    def advance(self, communication_id: str, progress: Progress) -> None:
        """Record how far a send under ``progress.owner``'s lease got (and renew the
        lease); :class:`LeaseLost` when the sender no longer holds it (recovered)."""
        with self._write() as session:
            result = session.execute(
                update(SendProgress)
                .where(SendProgress.communication_id == communication_id)
                .where(SendProgress.owner == progress.owner)
                .values(updated_at=utc_now(), **vars(progress))
            )
            if result.rowcount != 1:
                raise LeaseLost(f"{communication_id}: {progress.owner} no longer holds its send")

    def fallback_composed(self, communication_id: str) -> None:
        """The fallback a failure owed is in the ledger: nothing is owed any more."""
        with self._write() as session:
            session.execute(
                delete(SendProgress).where(
                    SendProgress.communication_id == communication_id,
                    SendProgress.stage == FALLBACK_OWED,
                )
            )

    def send_progress(self, communication_ids: Iterable[str]) -> dict[str, SendProgress]:
        """The recorded progress of these communications' sends, by communication id."""
        with Session(self.engine) as session:
            return {
                row.communication_id: row
                for ids in _chunks(communication_ids)
                for row in session.scalars(
                    select(SendProgress).where(SendProgress.communication_id.in_(ids))
                )
            }

    def record_release(self, communication_ids: Iterable[str], **detail: Any) -> None:
        """Chain a ``released`` event (who released them, when) on each communication, in
        one transaction: the approval of a run held at its release gate."""
        with self._write() as session:
            for communication_id in communication_ids:
                append_event(session, self.key, communication_id, RELEASED, **detail)

    def record_delivery_report(self, communication_id: str, kind: str, **detail: Any) -> bool:
        """Record what a provider reported about a communication; False if already recorded.

        ``kind`` is one of :data:`~missiva.records.status.DELIVERY_REPORTS`; ``detail``
        (reason, provider, at...) goes into the event. A ``report_key`` in ``detail``
        makes the call idempotent: a report with the same key and kind already recorded
        for this communication is not recorded again. The row's status changes as
        :data:`~missiva.records.status.REPORT_EFFECTS` declares (an undeliverable report
        makes a ``sent`` or ``review`` row ``bounced`` with the reason; ``delivered``
        settles a ``review`` row as ``sent``); any other report leaves it as it is.
        Raises :class:`LedgerError` for an unknown communication or one never handed over.
        """
        if kind not in DELIVERY_REPORTS:
            raise LedgerError(f"unknown delivery report {kind!r}")
        where = Communication.communication_id == communication_id
        with self._write() as session:
            status = session.scalar(select(Communication.status).where(where))
            if status is None:
                raise LedgerError(f"unknown communication {communication_id}")
            if status in NOT_HANDED_OVER:
                raise LedgerError(
                    f"communication {communication_id} was never handed to a provider "
                    f"(status {status!r})"
                )
            key = detail.get("report_key")
            if key is not None:
                earlier = session.scalars(
                    select(Event.detail).where(
                        Event.communication_id == communication_id, Event.kind == kind
                    )
                )
                if any(detail_value(text_, "report_key") == key for text_ in earlier):
                    return False
            settled = self._settle(session, communication_id, status, kind, detail)
            if settled:
                detail["status"] = settled
            append_event(session, self.key, communication_id, kind, **detail)
        return True

    @staticmethod
    def _settle(
        session: Session, communication_id: str, status: str, kind: str, detail: dict[str, Any]
    ) -> str | None:
        """Apply a report's effect (:data:`REPORT_EFFECTS`) on the row's status; the new
        status, if any."""
        new = REPORT_EFFECTS.get(kind, {}).get(status)
        if new is None:
            return None
        by = detail.get("provider") or "the provider"
        if new == BOUNCED:
            reason = f"{kind} reported by {by}: {detail.get('reason') or 'no reason given'}"
            values: dict[str, Any] = {"status": new, "reason": reason}
        else:
            at = detail.get("at")
            values = {
                "status": new,
                "reason": f"delivery reported by {by}",
                "sent_at": datetime.fromisoformat(at) if at else utc_now(),
            }
        provider_id = detail.get("provider_message_id")
        where = Communication.communication_id == communication_id
        if provider_id and not session.scalar(
            select(Communication.provider_message_id).where(where)
        ):
            values["provider_message_id"] = provider_id
        session.execute(
            update(Communication)
            .where(where, Communication.status == status)
            .values(updated_at=utc_now(), **values)
        )
        return values["status"]


class Batch:
    """:meth:`Ledger.add` deferred: the rows are recorded by :meth:`Ledger.add_many`, ``size``
    at a time (and by :meth:`flush`). A row is in the ledger only once flushed."""

    def __init__(self, ledger: Ledger, size: int) -> None:
        self.ledger, self.size = ledger, size
        self.rows: list[dict[str, Any]] = []

    def add(self, **fields: Any) -> None:
        self.rows.append(fields)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        if rows:
            self.ledger.add_many(rows)


def _row(
    blocks: Mapping[str, str] | None, fields: dict[str, Any]
) -> tuple[Communication, dict[str, str]]:
    """The row :meth:`Ledger.add` inserts for ``fields``, and its {block: version}."""
    given = fields.get("block_versions")
    if isinstance(given, str):
        given = json.loads(given)
    if blocks is not None and given is not None and dict(given) != dict(blocks):
        raise ValueError("block_versions and blocks disagree")
    blocks = {str(k): str(v) for k, v in (blocks or given or {}).items()}
    if blocks or "block_versions" in fields:
        fields["block_versions"] = canonical_json(blocks)
    if fields.get("consent_state") is not None and not isinstance(fields["consent_state"], str):
        fields["consent_state"] = canonical_json(fields["consent_state"])
    check_known(fields.get("status"))
    now = utc_now()
    reference = reference_code(fields["communication_id"])
    return Communication(created_at=now, updated_at=now, reference=reference, **fields), blocks
