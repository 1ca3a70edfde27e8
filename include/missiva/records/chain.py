"""The keyed hash chain over the ledger's events: appending, and checking the ledger.

Every event records the :func:`~missiva.records.models.row_digest` of its communication
row as it stood after the change, and each event's hash is an HMAC (under the ledger key,
:mod:`missiva.records.chain_key`) of its content and its predecessor's hash, so
:func:`verify` detects an edited, deleted or inserted event and an edited, smuggled-in or
deleted row, and a database writer without the key cannot re-hash the chain to hide an
edit. Only the newest events can be cut off unnoticed by the chain itself: anchors kept
outside the ledger (:mod:`missiva.records.anchors`) catch that. Append only inside a write
transaction holding the chain's lock, as :class:`~missiva.records.ledger.Ledger` does.
"""

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session, aliased

from missiva.records.models import (
    DIGEST_FIELDS,
    ChainState,
    Communication,
    CommunicationBlock,
    Event,
    iso_utc,
    row_digest,
    utc_now,
)

GENESIS_HASH = "0" * 64
#: anchored event ids looked up per ``IN (...)`` query
IN_CHUNK = 500


@dataclass(frozen=True)
class Head:
    """A point of the chain: an event, its hash, and how many events end there."""

    event_id: int
    hash: str
    events: int


@dataclass(frozen=True)
class Anchor(Head):
    """A :class:`Head` kept outside the ledger, as :mod:`missiva.records.anchors` reads it."""

    name: str = ""
    keyed_from: int | None = None
    #: written after a verify found the ledger intact up to it (incremental verify starts here)
    verified: bool = False


def event_hash(
    key: bytes | None, prev_hash: str, communication_id: str, kind: str, detail: str, at: str
) -> str:
    """HMAC-SHA256 under ``key`` of an event and its predecessor's hash; plain SHA-256
    for the legacy events recorded before the chain was keyed (``key`` ``None``)."""
    payload = json.dumps([prev_hash, communication_id, kind, detail, at], ensure_ascii=False)
    if key is None:
        return hashlib.sha256(payload.encode()).hexdigest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _current_digest(session: Session, communication_id: str) -> str:
    """The digest of the row as the database now holds it (in this transaction)."""
    columns = [getattr(Communication, name) for name in DIGEST_FIELDS]
    row = session.execute(
        select(*columns).where(Communication.communication_id == communication_id)
    ).one()
    return row_digest(row._mapping)


def append_event(
    session: Session, key: bytes, communication_id: str, kind: str, **detail: Any
) -> None:
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
            hash=event_hash(key, prev, communication_id, kind, text_, at.isoformat()),
        )
    )
    session.flush()


def head(conn: Connection) -> Head | None:
    """The newest event and the number of events (``None`` for an empty chain)."""
    last = conn.execute(
        select(Event.event_id, Event.hash).order_by(Event.event_id.desc()).limit(1)
    ).first()
    if last is None:
        return None
    return Head(last.event_id, last.hash, conn.scalar(select(func.count()).select_from(Event)))


def chain_state(conn: Connection) -> Row:
    """Where the keyed part of the chain starts (the :class:`ChainState` row)."""
    return conn.execute(select(ChainState).where(ChainState.id == 1)).one()


def verify(
    conn: Connection,
    key: bytes,
    *,
    anchors: Sequence[Anchor] = (),
    since: Anchor | None = None,
) -> list[str]:
    """The problems found over one connection (empty when intact).

    - every event's HMAC matches its content, and its ``prev_hash`` the hash of the
      event before it (an edited, deleted, inserted or re-hashed event breaks this);
    - every communication row matches the ``row_digest`` recorded in its latest
      event, and every row has events (an edited or smuggled-in row);
    - every communication referenced by events exists (a deleted row);
    - ``communication_blocks`` matches each row's recorded ``block_versions``;
    - ``anchors``: heads kept outside the ledger; each must still be in the chain with
      the same hash and the same number of events up to it (else the chain was cut off,
      re-hashed or had events removed before it), and agree on where keying starts.

    ``since``: a head verified earlier: check only the chain from it on and the rows its
    later events touched (incremental); ``None`` checks everything.
    """
    state = chain_state(conn)
    problems = _anchors_agree(state, anchors)
    problems += _events(conn, key, state, anchors, since)
    if since is not None:
        problems += _anchors_before(conn, anchors, since)
    after = since.event_id if since is not None else None
    return problems + _rows(conn, after) + _blocks(conn, after)


def _anchors_agree(state: Row, anchors: Sequence[Anchor]) -> list[str]:
    return [
        f"anchor {a.name}: the chain is keyed from event {a.keyed_from} there but from "
        f"event {state.keyed_from} in the ledger (chain_state edited to re-hash events)"
        for a in anchors
        if a.keyed_from is not None and a.keyed_from != state.keyed_from
    ]


def _anchor_problem(anchor: Anchor, found: tuple[str, int] | None) -> str | None:
    """What is wrong with ``anchor`` given the (hash, events up to it) found, if anything."""
    if found is None:
        return (
            f"event {anchor.event_id}: anchored by {anchor.name} but missing from the ledger "
            "(chain cut off: the newest events were deleted)"
        )
    if found[0] != anchor.hash:
        return (
            f"event {anchor.event_id}: hash differs from anchor {anchor.name} "
            "(the chain was re-hashed or the event replaced)"
        )
    if found[1] != anchor.events:
        return (
            f"event {anchor.event_id}: {found[1]} events up to it, anchor {anchor.name} "
            f"recorded {anchor.events} (events deleted or inserted before it)"
        )
    return None


def _found(conn: Connection, event_id: int) -> tuple[str, int] | None:
    """(hash, events up to it) of event ``event_id``; ``None`` when it is missing."""
    hash_ = conn.scalar(select(Event.hash).where(Event.event_id == event_id))
    if hash_ is None:
        return None
    return hash_, conn.scalar(select(func.count()).where(Event.event_id <= event_id))


def _anchors_before(conn: Connection, anchors: Sequence[Anchor], since: Anchor) -> list[str]:
    """Anchors older than ``since`` (an incremental check): the hash of each, by id (the
    counts before ``since`` were checked with it)."""
    older = [a for a in anchors if a.event_id < since.event_id]
    hashes: dict[int, str] = {}
    ids = sorted({a.event_id for a in older})
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        query = select(Event.event_id, Event.hash).where(Event.event_id.in_(chunk))
        hashes.update({row.event_id: row.hash for row in conn.execute(query)})
    problems = []
    for a in older:
        found = (hashes[a.event_id], a.events) if a.event_id in hashes else None
        problem = _anchor_problem(a, found)
        if problem:
            problems.append(problem)
    return problems


def _events(
    conn: Connection,
    key: bytes,
    state: Row,
    anchors: Sequence[Anchor],
    since: Anchor | None,
) -> list[str]:
    problems = []
    prev, prev_id, count = GENESIS_HASH, None, 0
    if since is not None:
        prev, prev_id, count = since.hash, since.event_id, since.events
    anchored: dict[int, list[Anchor]] = {}
    for a in anchors:
        anchored.setdefault(a.event_id, []).append(a)
    seen: set[int] = set()
    query = select(
        Event.event_id,
        Event.communication_id,
        Event.kind,
        Event.detail,
        Event.at,
        Event.prev_hash,
        Event.hash,
    ).order_by(Event.event_id)
    if since is not None:
        query = query.where(Event.event_id > since.event_id)
        problem = _anchor_problem(since, _found(conn, since.event_id))
        if problem:
            problems.append(problem)
    try:
        for e in conn.execute(query):
            count += 1
            if e.prev_hash != prev:
                before = f"event {prev_id}" if prev_id is not None else "the start of the chain"
                problems.append(
                    f"event {e.event_id}: broken hash link, prev_hash does not match the hash "
                    f"of {before} (an event was deleted, inserted or re-hashed)"
                )
            keyed = e.event_id >= state.keyed_from
            at = iso_utc(e.at)
            actual = event_hash(
                key if keyed else None, e.prev_hash, e.communication_id, e.kind, e.detail, at
            )
            if actual != e.hash:
                what = "hash (edited or re-hashed without the key)" if keyed else "legacy hash"
                problems.append(f"event {e.event_id}: content does not match its {what}")
            if e.event_id == state.keyed_from - 1 and e.hash != state.legacy_head:
                problems.append(
                    f"event {e.event_id}: differs from the legacy head recorded when the chain "
                    "became keyed"
                )
            for a in anchored.get(e.event_id, ()):
                seen.add(e.event_id)
                problem = _anchor_problem(a, (e.hash, count))
                if problem:
                    problems.append(problem)
            prev, prev_id = e.hash, e.event_id
    except (ValueError, TypeError) as exc:  # e.g. a timestamp edited into garbage
        after = f"event {prev_id}" if prev_id is not None else "the start"
        problems.append(f"events after {after}: unreadable ({exc}); check stopped")
        return problems
    first = since.event_id if since is not None else 0
    for event_id, missed in sorted(anchored.items()):
        if event_id > first and event_id not in seen:
            problems += [_anchor_problem(a, None) for a in missed]
    return problems


def _touched_after(after: int) -> Any:
    """The communications an event after ``after`` is about."""
    return select(Event.communication_id).where(Event.event_id > after)


def _rows(conn: Connection, after: int | None) -> list[str]:
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
    if after is not None:  # rows inserted without an event stay unseen until a full check
        query = query.where(Communication.communication_id.in_(_touched_after(after)))
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
    if after is not None:
        orphans = orphans.where(Event.communication_id.in_(_touched_after(after)))
    for row in conn.execute(orphans):
        problems.append(
            f"communication {row.communication_id}: recorded by event {row.first} but "
            "missing from communications (row deleted)"
        )
    return problems


def _blocks(conn: Connection, after: int | None) -> list[str]:
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
    if after is not None:
        query = query.where(CommunicationBlock.communication_id.in_(_touched_after(after)))
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
    if after is not None:
        missing = missing.where(Communication.communication_id.in_(_touched_after(after)))
    for row in conn.execute(missing):
        problems.append(
            f"communication {row.communication_id}: communication_blocks rows missing for "
            f"block_versions {row.block_versions}"
        )
    return problems
