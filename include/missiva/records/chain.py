"""The hash chain over the ledger's events: appending, and checking the whole ledger.

Every event records the :func:`~missiva.records.models.row_digest` of its communication
row as it stood after the change, and each event's hash covers its content and its
predecessor's hash, so :func:`verify` detects an edited, deleted or inserted event and
an edited, smuggled-in or deleted row. Append only inside a write transaction holding
the chain's lock, as :class:`~missiva.records.ledger.Ledger` does.
"""

import hashlib
import json
from itertools import groupby
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from missiva.records.models import (
    DIGEST_FIELDS,
    Communication,
    CommunicationBlock,
    Event,
    iso_utc,
    row_digest,
    utc_now,
)

GENESIS_HASH = "0" * 64


def event_hash(prev_hash: str, communication_id: str, kind: str, detail: str, at: str) -> str:
    payload = json.dumps([prev_hash, communication_id, kind, detail, at], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _current_digest(session: Session, communication_id: str) -> str:
    """The digest of the row as the database now holds it (in this transaction)."""
    columns = [getattr(Communication, name) for name in DIGEST_FIELDS]
    row = session.execute(
        select(*columns).where(Communication.communication_id == communication_id)
    ).one()
    return row_digest(row._mapping)


def append_event(session: Session, communication_id: str, kind: str, **detail: Any) -> None:
    """Chain an event ``kind`` about a communication, with the digest of its row now."""
    detail["row_digest"] = _current_digest(session, communication_id)
    last = session.scalar(select(Event.hash).order_by(Event.event_id.desc()).limit(1))
    prev = last or GENESIS_HASH
    at = utc_now()
    text_ = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
    session.add(
        Event(
            communication_id=communication_id,
            kind=kind,
            detail=text_,
            at=at,
            prev_hash=prev,
            hash=event_hash(prev, communication_id, kind, text_, at.isoformat()),
        )
    )
    session.flush()


def verify(conn: Connection, anchor: tuple[int, str] | None = None) -> list[str]:
    """The problems found over one connection (empty when intact).

    - every event's hash matches its content, and its ``prev_hash`` the hash of the
      event before it (an edited, deleted or inserted event breaks this);
    - every communication row matches the ``row_digest`` recorded in its latest
      event, and every row has events (an edited or smuggled-in row);
    - every communication referenced by events exists (a deleted row);
    - ``communication_blocks`` matches each row's recorded ``block_versions``;
    - ``anchor``: an earlier (event id, hash) head, which must still be in the chain.
    """
    return _events(conn, anchor) + _rows(conn) + _blocks(conn)


def _events(conn: Connection, anchor: tuple[int, str] | None) -> list[str]:
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
            at = iso_utc(e.at)
            actual = event_hash(e.prev_hash, e.communication_id, e.kind, e.detail, at)
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


def _rows(conn: Connection) -> list[str]:
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


def _blocks(conn: Connection) -> list[str]:
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
            ~exists().where(CommunicationBlock.communication_id == Communication.communication_id),
        )
        .order_by(Communication.communication_id)
    )
    for row in conn.execute(missing):
        problems.append(
            f"communication {row.communication_id}: communication_blocks rows missing for "
            f"block_versions {row.block_versions}"
        )
    return problems
