"""What the ledger answers: look-ups, audit queries and the chain check, read-only.

Look-ups by many values (keys, provider ids, customers) are bounded: each ``IN (...)``
binds at most :data:`IN_CHUNK` parameters (SQLite allows 32,766, older builds 999;
Postgres 65,535), however many values are asked for.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session

from missiva.records import chain
from missiva.records.models import (
    Communication,
    CommunicationBlock,
    Event,
    JourneyRun,
    detail_value,
)
from missiva.records.status import DEFERRED, NOT_HANDED_OVER, SENT, UNDELIVERABLE_REPORTS
from missiva.reference import normalise

#: bound parameters per ``IN (...)`` query
IN_CHUNK = 500
#: rows fetched at a time when a scope is streamed
SCOPE_PAGE = 1000


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """The distinct ``values``, sorted, in lists of at most :data:`IN_CHUNK`."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), IN_CHUNK):
        yield wanted[start : start + IN_CHUNK]


class LedgerQueries:
    """The read side of :class:`~missiva.records.ledger.Ledger` (over ``self.engine``)."""

    engine: Engine
    key: bytes

    def get_run(self, dag_id: str, run_id: str) -> JourneyRun | None:
        with Session(self.engine) as session:
            return session.get(JourneyRun, (dag_id, run_id))

    def latest_run(self, dag_id: str) -> JourneyRun | None:
        with Session(self.engine) as session:
            query = select(JourneyRun).where(JourneyRun.dag_id == dag_id)
            return session.scalar(query.order_by(JourneyRun.recorded_at.desc()).limit(1))

    def get(self, communication_id: str) -> Communication | None:
        with Session(self.engine) as session:
            return session.get(Communication, communication_id)

    def by_keys(self, keys: Iterable[str]) -> dict[str, Communication]:
        """{idempotency key: its communication} (absent: none)."""
        found: dict[str, Communication] = {}
        with Session(self.engine) as session:
            for chunk in _chunks(keys):
                query = select(Communication).where(Communication.idempotency_key.in_(chunk))
                found.update((c.idempotency_key, c) for c in session.scalars(query))
        return found

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
            if datetime.fromisoformat(detail_value(detail, "not_before")) <= now
        ]

    def by_provider_message_ids(self, ids: Iterable[str]) -> dict[str, list[Communication]]:
        """{provider message id: communications recorded with it} (absent: none)."""
        found: dict[str, list[Communication]] = {}
        with Session(self.engine) as session:
            for chunk in _chunks(ids):
                query = select(Communication).where(Communication.provider_message_id.in_(chunk))
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
        kinds = (*UNDELIVERABLE_REPORTS, "delivered")
        latest: dict[tuple[str, str, str], str] = {}
        with Session(self.engine) as session:
            for chunk in _chunks(customer_ids):
                query = (
                    select(
                        Communication.customer_id,
                        Communication.channel,
                        Communication.recipient,
                        Event.kind,
                    )
                    .join(Event, Event.communication_id == Communication.communication_id)
                    .where(
                        Communication.customer_id.in_(chunk),
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

    def sent_versions(self, templates: Iterable[str]) -> set[tuple[str, str]]:
        """The (template, version) pairs of ``templates`` some communication was handed
        to a provider with (by any run)."""
        found: set[tuple[str, str]] = set()
        with Session(self.engine) as session:
            for part in _chunks(templates):
                query = (
                    select(Communication.template, Communication.template_version)
                    .where(Communication.template.in_(part))
                    .where(Communication.status.not_in(NOT_HANDED_OVER))
                    .distinct()
                )
                found.update((t, v) for t, v in session.execute(query))
        return found

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
        reference: str | None = None,
    ) -> list[Communication]:
        """Communications matching every filter given (customer, journey, run, template,
        clause, creation time in [since, until), the customer reference as read out:
        :func:`missiva.reference.normalise`); every status, oldest first by default."""
        query = select(Communication)
        for column, value in (
            (Communication.customer_id, customer_id),
            (Communication.journey, journey),
            (Communication.run_id, run_id),
            (Communication.template, template),
            (Communication.reference, None if reference is None else normalise(reference) or ""),
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

    def scope_rows(
        self, journey: str, business_key: str, columns: Sequence[str], **equal: Any
    ) -> Iterator[Row]:
        """``columns`` of one journey's communications for one business key (where each
        ``equal`` column has that value), streamed a page at a time: a day of millions
        is never in memory as objects."""
        query = select(*(getattr(Communication, c) for c in columns)).where(
            Communication.journey == journey,
            Communication.business_key == business_key,
            *(getattr(Communication, c) == value for c, value in equal.items()),
        )
        with Session(self.engine) as session:
            yield from session.execute(query, execution_options={"yield_per": SCOPE_PAGE})

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
            .where(CommunicationBlock.block == block, Communication.status == SENT)
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

    def events_of(
        self, kinds: Iterable[str], *, after: int | None = None, containing: str | None = None
    ) -> list[Event]:
        """The events of ``kinds`` (after event ``after``; whose detail contains the text
        ``containing``), oldest first."""
        query = select(Event).where(Event.kind.in_(list(kinds))).order_by(Event.event_id)
        if after is not None:
            query = query.where(Event.event_id > after)
        if containing is not None:
            query = query.where(Event.detail.contains(containing, autoescape=True))
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def head(self) -> chain.Head | None:
        """The newest event, its hash and the number of events: what an anchor keeps
        outside the ledger (:mod:`missiva.records.anchors`), so that cutting off the
        newest events, which leaves a valid chain, is still detected."""
        with self.engine.connect() as conn:
            return chain.head(conn)

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Communication)) or 0

    def touched_since(self, event_id: int) -> list[Communication]:
        """The communications an event after ``event_id`` is about (oldest first)."""
        with Session(self.engine) as session:
            touched = select(Event.communication_id).where(Event.event_id > event_id)
            query = select(Communication).where(Communication.communication_id.in_(touched))
            return list(session.scalars(query.order_by(Communication.created_at)))

    def verify_chain(
        self,
        *,
        anchors: Sequence[chain.Anchor] = (),
        since: chain.Head | None = None,
        batch_size: int = 10_000,
    ) -> list[str]:
        """Check the ledger (:func:`~missiva.records.chain.verify`); the problems found.

        ``anchors``: heads kept outside the ledger; ``since``: a head verified earlier,
        to check only what came after it (incremental)."""
        with self.engine.connect() as conn:
            # one snapshot for every pass (SQLite's WAL read transaction gives one already)
            postgres = self.engine.dialect.name == "postgresql"
            isolation = {"isolation_level": "REPEATABLE READ"} if postgres else {}
            options = conn.execution_options(yield_per=batch_size, **isolation)
            return chain.verify(options, self.key, anchors=anchors, since=since)
