"""The ledger's tables as ORM models, and the canonical forms its hashes cover.

One row per communication (:class:`Communication`), the blocks rendered into it, the
hash-chained :class:`Event` log and what each DAG run extracted. :func:`row_digest` and
:func:`canonical_json` define bytes that recorded hashes cover: never change them.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
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
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC (a naive datetime is taken to be UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        Index("ix_communications_reference", "reference"),
    )

    communication_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: the reference customers read out (:func:`missiva.reference.reference_code` of the id)
    reference: Mapped[str | None] = mapped_column(String(16))
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
        return {k: iso_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


#: Columns derived from others (``reference`` from ``communication_id``): left out of the
#: digest, so rows digested before they existed still verify; checked by recomputing.
DERIVED_FIELDS = ("reference",)
#: Every other column of a communication row: :func:`row_digest` covers them all, so any
#: edit (status, addresses, times, consent state, input record, Airflow ids...) is
#: detectable.
DIGEST_FIELDS = tuple(
    column.name for column in Communication.__table__.columns if column.name not in DERIVED_FIELDS
)


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


class ChainState(Base):
    """Where the keyed chain starts (one row, written by the migration that introduced it).

    Events from ``keyed_from`` on are HMACs under the ledger key; earlier ones (recorded
    before the key existed) are plain SHA-256, their last hash kept as ``legacy_head``.
    Anchors repeat ``keyed_from``, so moving it to re-hash keyed events is detected.
    """

    __tablename__ = "chain_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    keyed_from: Mapped[int] = mapped_column(BigInteger)
    legacy_head: Mapped[str] = mapped_column(String(64))
    legacy_events: Mapped[int] = mapped_column(BigInteger)
    migrated_at: Mapped[datetime] = mapped_column(UTCDateTime)


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


def row_digest(comm: Communication | Mapping[str, Any]) -> str:
    """SHA-256 over the audit-relevant fields (:data:`DIGEST_FIELDS`) of a row.

    ``comm`` is a :class:`Communication` or a mapping with those keys (a result row).
    """
    values = {}
    for name in DIGEST_FIELDS:
        value = comm[name] if isinstance(comm, Mapping) else getattr(comm, name)
        values[name] = iso_utc(value) if isinstance(value, datetime) else value
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


def detail_value(detail: str, key: str) -> Any:
    """``key`` of an event's JSON detail (``None`` when absent or not a JSON object)."""
    try:
        return json.loads(detail).get(key)
    except (ValueError, AttributeError):
        return None
