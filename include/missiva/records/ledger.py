"""The communications ledger: one row per communication, plus hash-chained events.

Every input record ends here as ``sent``, ``suppressed``, ``quarantined`` or
``failed``. The idempotency key is unique, so recording the same communication twice
is impossible; the outbox states ``composed`` -> ``sending`` -> ``sent`` make a send
visible before and after it happens.

The schema is managed by the Alembic migrations in :mod:`missiva.records.migrations`;
``Ledger(url)`` upgrades it to head on open. Every event records the
:func:`row_digest` of its communication row as it stood after the change, and each
event's hash covers its content and its predecessor's hash, so
:meth:`Ledger.verify_chain` detects an edited or deleted event and an edited row.
Writers append one at a time: SQLite takes its write lock up front (``BEGIN
IMMEDIATE``), Postgres a transaction-scoped advisory lock, so the chain never forks.
"""

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from missiva.records.migrations import HEAD, VERSION_TABLE

FINAL_STATUSES = ("sent", "suppressed", "quarantined", "failed", "review", "bounced")
IN_FLIGHT_STATUSES = ("composed", "sending")
#: Held back by the contact policy (quiet hours) until the ``not_before`` its event records
DEFERRED = "deferred"
#: What a provider may report about a communication (see :mod:`missiva.delivery.reports`)
DELIVERY_REPORTS = ("delivered", "soft_bounce", "hard_bounce", "complaint", "rejected")
#: Reports proving the address unusable: a ``sent`` row becomes ``bounced``
UNDELIVERABLE_REPORTS = ("hard_bounce", "rejected")
#: Statuses of communications never handed to a provider: no report can be about them
NOT_HANDED_OVER = ("composed", DEFERRED, "suppressed", "quarantined")
GENESIS_HASH = "0" * 64


FALLBACK_MARK = "/fallback-"


def fallback_key(key: str, channel: str) -> str:
    """The idempotency key of the fallback of communication ``key`` on ``channel``."""
    return f"{key}{FALLBACK_MARK}{channel}"


def fallback_base(key: str) -> str:
    """The key of the content that fallback ``key`` carries on another channel (``key``
    itself when it is not a fallback). Every fallback of one content hangs off its key."""
    head, mark, channel = key.rpartition(FALLBACK_MARK)
    return head if mark and "/" not in channel else key


COPY_MARK = "/copy-"
NOTICE_MARK = "/notice"


def copy_key(key: str, channel: str) -> str:
    """The idempotency key of the copy of communication ``key`` sent on ``channel``."""
    return f"{key}{COPY_MARK}{channel}"


def notice_key(key: str) -> str:
    """The idempotency key of the notice (e-mail or SMS) that the portal document of
    communication ``key`` is in the customer's inbox."""
    return f"{key}{NOTICE_MARK}"


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


CHAIN_LOCK = _lock_key("missiva.ledger.events")
MIGRATION_LOCK = _lock_key("missiva.ledger.migrations")
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))")
# Alembic's ``context`` is process-global: one upgrade at a time per process
_UPGRADING = threading.Lock()


def _iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC (a naive datetime is taken to be UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: equal content gives equal text (and digest)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and read back timezone-aware in UTC on every database.

    SQLite keeps no offset (a non-UTC value would be stored as its local wall time) and
    Postgres answers in the session's time zone; both are normalised here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Communication(Base):
    __tablename__ = "communications"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_communications_idempotency_key"),
        Index("ix_communications_customer_created", "customer_id", "created_at"),
        Index("ix_communications_scope", "journey", "business_key"),
        Index("ix_communications_created_at", "created_at"),
        Index("ix_communications_sent_at", "sent_at"),
        Index("ix_communications_run_id", "run_id"),
    )

    communication_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    journey: Mapped[str] = mapped_column(String(64))
    communication: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    source_row_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(128))
    template_version: Mapped[str | None] = mapped_column(String(32))
    #: canonical JSON of {block: version} rendered into the communication
    block_versions: Mapped[str | None] = mapped_column(Text)
    #: canonical JSON of the consent/preference state the routing decision used
    consent_state: Mapped[str | None] = mapped_column(Text)
    #: artifact URI of the canonical JSON input record (``data_sha256`` is its hash)
    input_uri: Mapped[str | None] = mapped_column(Text)
    data_sha256: Mapped[str] = mapped_column(String(64))
    artifact_uri: Mapped[str | None] = mapped_column(Text)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    route_reason: Mapped[str | None] = mapped_column(Text)
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    try_number: Mapped[int] = mapped_column(Integer, default=1)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def blocks(self) -> dict[str, str]:
        """The {block: version} map (empty when none was recorded)."""
        return json.loads(self.block_versions) if self.block_versions else {}

    @property
    def consent(self) -> Any:
        """The consent/preference state used for routing (``None`` when not recorded)."""
        return json.loads(self.consent_state) if self.consent_state else None

    def as_dict(self) -> dict[str, Any]:
        row = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        return {k: _iso_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


#: Every column of a communication row: :func:`row_digest` covers them all, so any edit
#: (status, addresses, times, consent state, input record, Airflow ids...) is detectable.
DIGEST_FIELDS = tuple(column.name for column in Communication.__table__.columns)


class CommunicationBlock(Base):
    """One block (clause) version rendered into one communication."""

    __tablename__ = "communication_blocks"
    __table_args__ = (Index("ix_communication_blocks_block_version", "block", "version"),)

    communication_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("communications.communication_id", name="fk_communication_blocks_communication"),
        primary_key=True,
    )
    block: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))


class Event(Base):
    """Append-only; each row's hash covers its content and the previous row's hash."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("hash", name="uq_events_hash"),
        Index("ix_events_communication_event", "communication_id", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    communication_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("communications.communication_id", name="fk_events_communication"),
    )
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class JourneyRun(Base):
    """What one DAG run extracted, so a summary can prove nothing was dropped."""

    __tablename__ = "journey_runs"

    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    journey: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str] = mapped_column(String(64))
    interval_start: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_end: Mapped[datetime] = mapped_column(UTCDateTime)
    extracted: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: extracted records whose communication a run of another business key already
    #: recorded (not composed again)
    handled_before: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class LedgerError(Exception):
    """A ledger transition that would break the outbox rules."""


class LedgerSchemaError(LedgerError):
    """The database's schema revision is unknown to this version of Missiva."""


def _now() -> datetime:
    return datetime.now(UTC)


def row_digest(comm: Communication | Mapping[str, Any]) -> str:
    """SHA-256 over the audit-relevant fields (:data:`DIGEST_FIELDS`) of a row.

    ``comm`` is a :class:`Communication` or a mapping with those keys (a result row).
    """
    values = {}
    for name in DIGEST_FIELDS:
        value = comm[name] if isinstance(comm, Mapping) else getattr(comm, name)
        values[name] = _iso_utc(value) if isinstance(value, datetime) else value
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


#: how long a new SQLite connection waits for a lock held by another process
_SQLITE_BUSY_S = 30.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself, see _sqlite_begin
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
    # Switching to WAL upgrades a shared lock to an exclusive one; SQLite answers "database
    # is locked" at once (no busy wait, to avoid a deadlock) while another process is
    # creating the schema, so retry until that process commits.
    deadline = time.monotonic() + _SQLITE_BUSY_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take the write lock up front so they extend the event chain in turn."""
    write = conn.get_execution_options().get("missiva_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


#: bound parameters per ``IN (...)`` query (SQLite allows 32766, older builds 999)
_IN_CHUNK = 500


def _detail_value(detail: str, key: str) -> Any:
    """``key`` of an event's JSON detail (``None`` when absent or not a JSON object)."""
    try:
        return json.loads(detail).get(key)
    except (ValueError, AttributeError):
        return None


def _event_hash(prev_hash: str, communication_id: str, kind: str, detail: str, at: str) -> str:
    payload = json.dumps([prev_hash, communication_id, kind, detail, at], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _stored_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database (``None``: no version table yet)."""
    try:
        with conn.begin_nested() if conn.in_transaction() else conn.begin():
            return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    except DBAPIError:
        return None


def ensure_schema(engine: Engine) -> None:
    """Upgrade the ledger schema to :data:`~missiva.records.migrations.HEAD`.

    One query when already at head. Otherwise the upgrade runs in one transaction
    under a lock (SQLite: ``BEGIN IMMEDIATE``; Postgres: an advisory lock), re-reading
    the revision once the lock is held, so concurrent openers migrate exactly once.
    """
    with engine.connect() as conn:
        if _stored_revision(conn) == HEAD:
            return
    writer = engine.execution_options(missiva_write=True)
    with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(_ADVISORY_LOCK, {"key": MIGRATION_LOCK})
        current = _stored_revision(conn)
        if current == HEAD:
            return
        from missiva.records import migrations

        if current is not None and current not in migrations.known_revisions():
            raise LedgerSchemaError(
                f"the ledger schema is at revision {current!r}, unknown to this version of "
                f"missiva (head {HEAD!r}); upgrade missiva"
            )
        with _UPGRADING:
            migrations.upgrade(conn)


class Ledger:
    """Transactions over the ledger database (SQLite by default, any SQLAlchemy URL)."""

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        """Open the ledger at ``url``; ``upgrade``: bring its schema to head first."""
        self.engine: Engine = create_engine(url)
        self._postgres = self.engine.dialect.name == "postgresql"
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
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
                session.execute(_ADVISORY_LOCK, {"key": CHAIN_LOCK})
            yield session

    @staticmethod
    def _current_digest(session: Session, communication_id: str) -> str:
        """The digest of the row as the database now holds it (in this transaction)."""
        columns = [getattr(Communication, name) for name in DIGEST_FIELDS]
        row = session.execute(
            select(*columns).where(Communication.communication_id == communication_id)
        ).one()
        return row_digest(row._mapping)

    def _append_event(
        self, session: Session, communication_id: str, kind: str, **detail: Any
    ) -> None:
        detail["row_digest"] = self._current_digest(session, communication_id)
        last = session.scalar(select(Event.hash).order_by(Event.event_id.desc()).limit(1))
        prev = last or GENESIS_HASH
        at = _now()
        text_ = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        session.add(
            Event(
                communication_id=communication_id,
                kind=kind,
                detail=text_,
                at=at,
                prev_hash=prev,
                hash=_event_hash(prev, communication_id, kind, text_, at.isoformat()),
            )
        )
        session.flush()

    def record_run(self, **fields: Any) -> None:
        """Record (or refresh on re-run) what a DAG run extracted."""
        with self._write() as session:
            session.merge(JourneyRun(recorded_at=_now(), **fields))

    def record_handled_before(self, dag_id: str, run_id: str, count: int) -> None:
        """How many of the run's records an earlier run (another business key) handled."""
        with self._write() as session:
            session.get(JourneyRun, (dag_id, run_id)).handled_before = count

    def get_run(self, dag_id: str, run_id: str) -> JourneyRun | None:
        with Session(self.engine) as session:
            return session.get(JourneyRun, (dag_id, run_id))

    def latest_run(self, dag_id: str) -> JourneyRun | None:
        with Session(self.engine) as session:
            query = select(JourneyRun).where(JourneyRun.dag_id == dag_id)
            return session.scalar(query.order_by(JourneyRun.recorded_at.desc()).limit(1))

    def add(self, *, blocks: Mapping[str, str] | None = None, **fields: Any) -> bool:
        """Insert a communication unless its idempotency key exists; True if inserted.

        ``blocks``: {block: version} rendered into it; stored as ``block_versions`` and
        as ``communication_blocks`` rows in the same transaction. ``block_versions`` and
        ``consent_state`` may also be given as dicts (stored as canonical JSON).
        """
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
        now = _now()
        row = Communication(created_at=now, updated_at=now, **fields)
        try:
            with self._write() as session:
                session.add(row)
                session.flush()
                session.add_all(
                    CommunicationBlock(communication_id=row.communication_id, block=b, version=v)
                    for b, v in sorted(blocks.items())
                )
                session.flush()
                self._append_event(
                    session, row.communication_id, row.status, reason=row.reason, task=row.task_id
                )
        except IntegrityError:
            if row.idempotency_key is None or not self.by_keys([row.idempotency_key]):
                raise  # not a duplicate: a missing field or a broken constraint
            return False
        return True

    def get(self, communication_id: str) -> Communication | None:
        with Session(self.engine) as session:
            return session.get(Communication, communication_id)

    def by_keys(self, keys: Iterable[str]) -> dict[str, Communication]:
        with Session(self.engine) as session:
            query = select(Communication).where(Communication.idempotency_key.in_(list(keys)))
            return {c.idempotency_key: c for c in session.scalars(query)}

    def transition(
        self,
        communication_id: str,
        expected: str,
        new: str,
        *,
        note: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Move a communication from ``expected`` to ``new`` status, atomically.

        ``fields`` are columns set on the row; ``note`` goes into the event only (e.g. a
        deferral's ``not_before``)."""
        if "block_versions" in fields:
            raise LedgerError("block versions are recorded once, by add()")
        now = _now()
        with self._write() as session:
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
            self._append_event(session, communication_id, new, **fields, **(note or {}))

    def due_deferred(self, now: datetime) -> list[Communication]:
        """``deferred`` communications whose ``not_before`` (in their latest event, the
        deferral) is at or before ``now``, oldest first."""
        latest = (
            select(func.max(Event.event_id))
            .where(Event.communication_id == Communication.communication_id)
            .correlate(Communication)
            .scalar_subquery()
        )
        query = (
            select(Communication, Event.detail)
            .join(Event, Event.event_id == latest)
            .where(Communication.status == DEFERRED)
            .order_by(Communication.created_at, Communication.communication_id)
        )
        with Session(self.engine) as session:
            rows = session.execute(query).all()
        return [
            comm
            for comm, detail in rows
            if datetime.fromisoformat(_detail_value(detail, "not_before")) <= now
        ]

    def record_delivery_report(self, communication_id: str, kind: str, **detail: Any) -> bool:
        """Record what a provider reported about a communication; False if already recorded.

        ``kind`` is one of :data:`DELIVERY_REPORTS`; ``detail`` (reason, provider, at...)
        goes into the event. A ``report_key`` in ``detail`` makes the call idempotent: a
        report with the same key and kind already recorded for this communication is not
        recorded again. :data:`UNDELIVERABLE_REPORTS` move a ``sent`` or ``review`` row to
        ``bounced`` with the reason; ``delivered`` settles a ``review`` row (outcome
        unknown after a worker died mid-send) as ``sent``; any other report (or status)
        leaves the row as it is. Raises
        :class:`LedgerError` for an unknown communication or one never handed over.
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
                if any(_detail_value(text_, "report_key") == key for text_ in earlier):
                    return False
            settled = self._settle(session, communication_id, status, kind, detail)
            if settled:
                detail["status"] = settled
            self._append_event(session, communication_id, kind, **detail)
        return True

    @staticmethod
    def _settle(
        session: Session, communication_id: str, status: str, kind: str, detail: dict[str, Any]
    ) -> str | None:
        """Apply a report's effect on the row's status; the new status, if any."""
        if kind in UNDELIVERABLE_REPORTS and status in ("sent", "review"):
            by = detail.get("provider") or "the provider"
            reason = f"{kind} reported by {by}: {detail.get('reason') or 'no reason given'}"
            values: dict[str, Any] = {"status": "bounced", "reason": reason}
        elif kind == "delivered" and status == "review":
            at = detail.get("at")
            values = {
                "status": "sent",
                "reason": f"delivery reported by {detail.get('provider') or 'the provider'}",
                "sent_at": datetime.fromisoformat(at) if at else _now(),
            }
        else:
            return None
        provider_id = detail.get("provider_message_id")
        where = Communication.communication_id == communication_id
        if provider_id and not session.scalar(
            select(Communication.provider_message_id).where(where)
        ):
            values["provider_message_id"] = provider_id
        session.execute(
            update(Communication)
            .where(where, Communication.status == status)
            .values(updated_at=_now(), **values)
        )
        return values["status"]

    def by_provider_message_ids(self, ids: Iterable[str]) -> dict[str, list[Communication]]:
        """{provider message id: communications recorded with it} (absent: none)."""
        wanted = sorted(set(ids))
        found: dict[str, list[Communication]] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _IN_CHUNK):
                query = select(Communication).where(
                    Communication.provider_message_id.in_(wanted[start : start + _IN_CHUNK])
                )
                for comm in session.scalars(query.order_by(Communication.communication_id)):
                    found.setdefault(comm.provider_message_id, []).append(comm)
        return found

    def invalid_contacts(self, customer_ids: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
        """{customer id: {(channel, address)}} that providers reported undeliverable.

        An address counts as invalid when its latest report (in ledger order) among
        :data:`UNDELIVERABLE_REPORTS` and ``delivered`` is undeliverable, so a later
        delivery to the same address makes it valid again. Customers without any
        invalid address are absent.
        """
        wanted = sorted(set(customer_ids))
        kinds = (*UNDELIVERABLE_REPORTS, "delivered")
        latest: dict[tuple[str, str, str], str] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _IN_CHUNK):
                query = (
                    select(
                        Communication.customer_id,
                        Communication.channel,
                        Communication.recipient,
                        Event.kind,
                    )
                    .join(Event, Event.communication_id == Communication.communication_id)
                    .where(
                        Communication.customer_id.in_(wanted[start : start + _IN_CHUNK]),
                        Event.kind.in_(kinds),
                    )
                    .order_by(Event.event_id)
                )
                for row in session.execute(query):
                    if row.channel and row.recipient:
                        latest[(row.customer_id, row.channel, row.recipient)] = row.kind
        invalid: dict[str, set[tuple[str, str]]] = {}
        for (customer_id, channel, address), kind in latest.items():
            if kind in UNDELIVERABLE_REPORTS:
                invalid.setdefault(customer_id, set()).add((channel, address))
        return invalid

    def communications(
        self, *, journey: str | None = None, limit: int | None = None
    ) -> list[Communication]:
        """Every communication (of ``journey``), oldest first."""
        return self.trace(journey=journey, limit=limit)

    def trace(
        self,
        customer_id: str | None = None,
        *,
        journey: str | None = None,
        run_id: str | None = None,
        template: str | None = None,
        block: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Communication]:
        """Communications matching every filter given (customer, journey, run, template,
        clause, creation time in [since, until)); every status, oldest first by default."""
        query = select(Communication)
        for column, value in (
            (Communication.customer_id, customer_id),
            (Communication.journey, journey),
            (Communication.run_id, run_id),
            (Communication.template, template),
        ):
            if value is not None:
                query = query.where(column == value)
        if block is not None:
            blocks = select(CommunicationBlock.communication_id).where(
                CommunicationBlock.block == block
            )
            query = query.where(Communication.communication_id.in_(blocks))
        if since is not None:
            query = query.where(Communication.created_at >= since)
        if until is not None:
            query = query.where(Communication.created_at < until)
        created = Communication.created_at.desc() if newest_first else Communication.created_at
        query = query.order_by(created, Communication.communication_id).limit(limit)
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def for_scope(self, journey: str, business_key: str) -> list[Communication]:
        """Every communication of one journey for one business key (e.g. a day)."""
        query = select(Communication).where(
            Communication.journey == journey, Communication.business_key == business_key
        )
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def blocks(self, communication_id: str) -> dict[str, str]:
        """{block: version} of one communication, from ``communication_blocks``."""
        query = select(CommunicationBlock.block, CommunicationBlock.version).where(
            CommunicationBlock.communication_id == communication_id
        )
        with Session(self.engine) as session:
            return {row.block: row.version for row in session.execute(query)}

    def clause_recipients(
        self,
        block: str,
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Communication]:
        """Sent communications that contained ``block`` (at ``version``, if given).

        ``since``/``until`` bound ``sent_at`` to [since, until); naive datetimes are UTC.
        Each row carries the customer, channel and address used. Oldest send first.
        """
        query = (
            select(Communication)
            .join(
                CommunicationBlock,
                CommunicationBlock.communication_id == Communication.communication_id,
            )
            .where(CommunicationBlock.block == block, Communication.status == "sent")
        )
        if version is not None:
            query = query.where(CommunicationBlock.version == version)
        if since is not None:
            query = query.where(Communication.sent_at >= since)
        if until is not None:
            query = query.where(Communication.sent_at < until)
        query = query.order_by(Communication.sent_at, Communication.communication_id)
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def events(self, communication_id: str | None = None) -> list[Event]:
        query = select(Event).order_by(Event.event_id)
        if communication_id:
            query = query.where(Event.communication_id == communication_id)
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def head(self) -> tuple[int, str] | None:
        """(event id, hash) of the newest event, to keep outside the ledger as an anchor.

        The chain alone cannot reveal that its newest events were cut off; an anchor
        kept elsewhere (a log, a ticket, an object-locked file) and passed to
        :meth:`verify_chain` can.
        """
        with Session(self.engine) as session:
            query = select(Event.event_id, Event.hash).order_by(Event.event_id.desc()).limit(1)
            row = session.execute(query).first()
        return (row.event_id, row.hash) if row else None

    def verify_chain(
        self, *, anchor: tuple[int, str] | None = None, batch_size: int = 10_000
    ) -> list[str]:
        """Check the whole ledger; return the problems found (empty when intact).

        - every event's hash matches its content, and its ``prev_hash`` the hash of the
          event before it (an edited, deleted or inserted event breaks this);
        - every communication row matches the ``row_digest`` recorded in its latest
          event, and every row has events (an edited or smuggled-in row);
        - every communication referenced by events exists (a deleted row);
        - ``communication_blocks`` matches each row's recorded ``block_versions``;
        - ``anchor``: an earlier :meth:`head`, which must still be in the chain.
        """
        problems: list[str] = []
        with self.engine.connect() as conn:
            # one snapshot for every pass (SQLite's WAL read transaction gives one already)
            isolation = {"isolation_level": "REPEATABLE READ"} if self._postgres else {}
            conn = conn.execution_options(yield_per=batch_size, **isolation)
            problems += self._verify_events(conn, anchor)
            problems += self._verify_rows(conn)
            problems += self._verify_blocks(conn)
        return problems

    @staticmethod
    def _verify_events(conn: Connection, anchor: tuple[int, str] | None) -> list[str]:
        problems = []
        prev, prev_id = GENESIS_HASH, None
        anchor_seen = False
        query = select(
            Event.event_id,
            Event.communication_id,
            Event.kind,
            Event.detail,
            Event.at,
            Event.prev_hash,
            Event.hash,
        ).order_by(Event.event_id)
        try:
            for e in conn.execute(query):
                if e.prev_hash != prev:
                    before = f"event {prev_id}" if prev_id is not None else "the start of the chain"
                    problems.append(
                        f"event {e.event_id}: broken hash link, prev_hash does not match the hash "
                        f"of {before} (an event was deleted, inserted or re-hashed)"
                    )
                at = _iso_utc(e.at)
                actual = _event_hash(e.prev_hash, e.communication_id, e.kind, e.detail, at)
                if actual != e.hash:
                    problems.append(f"event {e.event_id}: content does not match its hash (edited)")
                if anchor is not None and e.event_id == anchor[0]:
                    anchor_seen = True
                    if e.hash != anchor[1]:
                        problems.append(f"event {e.event_id}: hash differs from the anchor")
                prev, prev_id = e.hash, e.event_id
        except (ValueError, TypeError) as exc:  # e.g. a timestamp edited into garbage
            after = f"event {prev_id}" if prev_id is not None else "the start"
            problems.append(f"events after {after}: unreadable ({exc}); check stopped")
        if anchor is not None and not anchor_seen:
            problems.append(f"event {anchor[0]}: the anchored event is missing (chain cut off)")
        return problems

    @staticmethod
    def _verify_rows(conn: Connection) -> list[str]:
        problems = []
        earlier = aliased(Event)
        latest = (
            select(func.max(earlier.event_id))
            .where(earlier.communication_id == Communication.communication_id)
            .correlate(Communication)
            .scalar_subquery()
        )
        columns = [getattr(Communication, name) for name in DIGEST_FIELDS]
        query = (
            select(Communication.communication_id, *columns, Event.event_id, Event.detail)
            .outerjoin(Event, Event.event_id == latest)
            .order_by(Communication.communication_id)
        )
        for row in conn.execute(query):
            comm_id = row.communication_id
            if row.event_id is None:
                problems.append(f"communication {comm_id}: no event records it (row inserted)")
                continue
            try:
                recorded = json.loads(row.detail).get("row_digest")
            except (ValueError, AttributeError):
                recorded = None
                problems.append(f"event {row.event_id}: detail is not a JSON object")
            if recorded is None:
                problems.append(
                    f"communication {comm_id}: its latest event {row.event_id} records no "
                    "row digest (recorded before row digests existed, or edited)"
                )
            elif recorded != row_digest(row._mapping):
                problems.append(
                    f"communication {comm_id}: row differs from the digest recorded in "
                    f"event {row.event_id} (the row was edited)"
                )
        orphans = (
            select(Event.communication_id, func.min(Event.event_id).label("first"))
            .where(~exists().where(Communication.communication_id == Event.communication_id))
            .group_by(Event.communication_id)
            .order_by(Event.communication_id)
        )
        for row in conn.execute(orphans):
            problems.append(
                f"communication {row.communication_id}: recorded by event {row.first} but "
                "missing from communications (row deleted)"
            )
        return problems

    @staticmethod
    def _verify_blocks(conn: Connection) -> list[str]:
        problems = []
        query = (
            select(
                CommunicationBlock.communication_id,
                CommunicationBlock.block,
                CommunicationBlock.version,
                Communication.block_versions,
            )
            .join(
                Communication,
                Communication.communication_id == CommunicationBlock.communication_id,
            )
            .order_by(CommunicationBlock.communication_id, CommunicationBlock.block)
        )
        for comm_id, rows in groupby(conn.execute(query), key=lambda r: r.communication_id):
            rows = list(rows)
            stored = {r.block: r.version for r in rows}
            try:
                recorded = json.loads(rows[0].block_versions or "{}")
            except ValueError:
                recorded = None
            if stored != recorded:
                problems.append(
                    f"communication {comm_id}: communication_blocks {stored} differ from its "
                    f"block_versions {rows[0].block_versions}"
                )
        missing = (
            select(Communication.communication_id, Communication.block_versions)
            .where(
                Communication.block_versions.is_not(None),
                Communication.block_versions != "{}",
                ~exists().where(
                    CommunicationBlock.communication_id == Communication.communication_id
                ),
            )
            .order_by(Communication.communication_id)
        )
        for row in conn.execute(missing):
            problems.append(
                f"communication {row.communication_id}: communication_blocks rows missing for "
                f"block_versions {row.block_versions}"
            )
        return problems

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Communication)) or 0
