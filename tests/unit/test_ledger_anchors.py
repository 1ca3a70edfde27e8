"""The keyed chain and its anchors: tampering an insider can do with SQL is named by verify.

A SQLite ledger and a local archive (a folder with an append-only anchor file); every
tamper is real SQL behind the ledger's back, as a database writer would do it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from ledger_fixtures import T0, cid, email_fields, raw_sql, send

from missiva.records import audit, chain_key
from missiva.records.anchors import RUN, VERIFIED, anchor_log, write_anchor
from missiva.records.chain import event_hash
from missiva.records.ledger import Ledger
from missiva.records.migrations import alembic_config
from missiva.records.models import iso_utc, row_digest
from missiva.records.store import LocalArtifactStore, object_key

KEY = "anchors-test-key"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "archive")


def add(ledger: Ledger, store: LocalArtifactStore, n: int) -> None:
    """Customer ``n``'s welcome, its input record archived, then sent."""
    archived = store.put(json.dumps({"customer": n}).encode())
    ledger.add(**email_fields(n, input_uri=archived.uri, data_sha256=archived.sha256))
    send(ledger, n, T0)


@pytest.fixture
def ledger(db_path: Path, store: LocalArtifactStore) -> Ledger:
    """Four e-mails sent (12 events), anchored after that 'run'."""
    with Ledger(f"sqlite:///{db_path}", key=KEY) as ledger:
        for n in range(1, 5):
            add(ledger, store, n)
        write_anchor(ledger, store, RUN, "onboarding/run-1")
        yield ledger


def rehash(db_path: Path, key: bytes | None, start: int) -> None:
    """What an insider does after an edit: recompute every hash from event ``start`` on
    (``key`` ``None``: plain SHA-256, as the chain was before it was keyed)."""
    before = "SELECT hash FROM events WHERE event_id < :s ORDER BY event_id DESC LIMIT 1"
    prev = [r.hash for r in raw_sql(db_path, before, s=start)] or ["0" * 64]
    prev_hash = prev[0]
    rows = raw_sql(db_path, "SELECT * FROM events WHERE event_id >= :s ORDER BY event_id", s=start)
    for e in rows:
        at = iso_utc(datetime.fromisoformat(e.at))
        new = event_hash(key, prev_hash, e.communication_id, e.kind, e.detail, at)
        update = "UPDATE events SET prev_hash = :p, hash = :h WHERE event_id = :i"
        raw_sql(db_path, update, p=prev_hash, h=new, i=e.event_id)
        prev_hash = new


def forge_recipient(ledger: Ledger, db_path: Path, n: int, recipient: str) -> int:
    """Edit communication ``n``'s recipient and the row digest its latest event records,
    as an insider would; the id of that event."""
    comm = ledger.get(cid(n))
    comm.recipient = recipient
    update = "UPDATE communications SET recipient = :r WHERE communication_id = :c"
    raw_sql(db_path, update, r=recipient, c=cid(n))
    latest = ledger.events(cid(n))[-1]
    detail = json.loads(latest.detail) | {"row_digest": row_digest(comm)}
    raw_sql(
        db_path,
        "UPDATE events SET detail = :d WHERE event_id = :i",
        d=json.dumps(detail, sort_keys=True, ensure_ascii=False),
        i=latest.event_id,
    )
    return latest.event_id


def problems(ledger: Ledger, store: LocalArtifactStore, *, full: bool = True) -> list[str]:
    return audit.verify(ledger, store, full=full).problems


# --- the keyed chain ------------------------------------------------------------------


def test_an_intact_anchored_ledger_verifies(ledger: Ledger, store: LocalArtifactStore) -> None:
    result = audit.verify(ledger, store, by="test")
    assert (result.problems, result.anchors, result.communications) == ([], 1, 4)
    assert result.anchored is not None and result.anchored.event_id == 12
    assert result.anchored.verified


def test_an_edit_rehashed_without_the_key_is_named(
    ledger: Ledger, store: LocalArtifactStore, db_path: Path
) -> None:
    """The insider edits a row, recomputes its digest and re-hashes the chain with plain
    SHA-256 (or any key but the ledger's): every re-hashed event fails its HMAC."""
    edited = forge_recipient(ledger, db_path, 2, "attacker@evil.example")
    rehash(db_path, None, edited)
    found = problems(ledger, store)
    assert (
        f"event {edited}: content does not match its hash (edited or re-hashed without the key)"
        in found
    )
    rehash(db_path, b"a guessed key", edited)
    assert (
        f"event {edited}: content does not match its hash (edited or re-hashed without the key)"
        in problems(ledger, store)
    )


def test_a_rehash_with_the_key_before_the_last_anchor_is_named(
    ledger: Ledger, store: LocalArtifactStore, db_path: Path
) -> None:
    """Even a key holder who re-hashes an anchored stretch is caught by the anchor."""
    edited = forge_recipient(ledger, db_path, 2, "attacker@evil.example")
    rehash(db_path, KEY.encode(), edited)
    assert ledger.verify_chain() == []  # the chain alone is consistent again
    (anchor,) = [a for a in problems(ledger, store)]
    assert anchor.startswith("event 12: hash differs from anchor chain.jsonl:1 (onboarding/run-1, ")
    assert anchor.endswith("(the chain was re-hashed or the event replaced)")


def test_a_cut_off_tail_is_named(ledger: Ledger, store: LocalArtifactStore, db_path: Path) -> None:
    """Deleting the newest events and their communication leaves a valid chain: the
    anchor names the cut."""
    raw_sql(db_path, "DELETE FROM events WHERE communication_id = :c", c=cid(4))
    raw_sql(db_path, "DELETE FROM communications WHERE communication_id = :c", c=cid(4))
    assert ledger.verify_chain() == []
    (found,) = problems(ledger, store)
    assert found.startswith("event 12: anchored by chain.jsonl:1 (onboarding/run-1, ")
    assert found.endswith(
        "but missing from the ledger (chain cut off: the newest events were deleted)"
    )
    assert problems(ledger, store, full=False) == [found]


def test_events_deleted_and_relinked_before_an_anchor_are_counted(
    ledger: Ledger, store: LocalArtifactStore, db_path: Path
) -> None:
    raw_sql(db_path, "DELETE FROM events WHERE event_id = 5")
    rehash(db_path, KEY.encode(), 6)
    found = problems(ledger, store)
    assert any("hash differs from anchor" in p for p in found)
    raw_sql(db_path, "UPDATE events SET event_id = 5 WHERE event_id = 12")  # renumbered
    assert any("missing from the ledger" in p for p in problems(ledger, store))


def test_the_wrong_key_fails_every_keyed_event(ledger: Ledger, store: LocalArtifactStore) -> None:
    other = Ledger(str(ledger.engine.url), key="not the key")
    found = other.verify_chain()
    assert len(found) == 12 and all("re-hashed without the key" in p for p in found)


def test_a_forged_anchor_line_is_refused(ledger: Ledger, store: LocalArtifactStore) -> None:
    log = anchor_log(store)
    fake = {"event_id": 99, "hash": "f" * 64, "events": 99, "keyed_from": 1, "kind": VERIFIED}
    log.append(json.dumps(fake | {"by": "x", "at": "now", "mac": "0" * 64}).encode(), "x")
    log.path.open("ab").write(b"not json\n")
    found = problems(ledger, store)
    assert found[0] == (
        "anchor chain.jsonl:2: its signature does not match the ledger key (forged, edited, "
        "or written under another key)"
    )
    assert found[1].startswith("anchor chain.jsonl:3: unreadable (")


def test_moving_the_keyed_boundary_is_named(
    ledger: Ledger, store: LocalArtifactStore, db_path: Path
) -> None:
    """Claiming the chain is unkeyed (legacy) up to event 12 to re-hash it without the key."""
    forge_recipient(ledger, db_path, 2, "attacker@evil.example")
    raw_sql(db_path, "UPDATE chain_state SET keyed_from = 13")
    rehash(db_path, None, 1)
    raw_sql(
        db_path,
        "UPDATE chain_state SET legacy_head = (SELECT hash FROM events WHERE event_id = 12)",
    )
    found = problems(ledger, store)
    assert found[0].startswith("anchor chain.jsonl:1 (onboarding/run-1, ")
    assert found[0].endswith(
        "the chain is keyed from event 1 there but from event 13 in the ledger "
        "(chain_state edited to re-hash events)"
    )


def test_a_ledger_from_before_keying_keeps_its_history_and_keys_what_follows(
    db_path: Path, store: LocalArtifactStore
) -> None:
    url = f"sqlite:///{db_path}"
    command.upgrade(alembic_config(url=url), "0004_reference_code")
    with Ledger(url, upgrade=False, key=KEY) as old:
        add(old, store, 1)
        add(old, store, 2)
    rehash(db_path, None, 1)  # six events hashed as before the chain was keyed
    legacy_head = raw_sql(db_path, "SELECT hash FROM events WHERE event_id = 6")[0].hash
    with Ledger(url, key=KEY) as ledger:
        state = raw_sql(db_path, "SELECT keyed_from, legacy_head, legacy_events FROM chain_state")
        assert [tuple(r) for r in state] == [(7, legacy_head, 6)]
        add(ledger, store, 3)
        assert ledger.events()[6].prev_hash == legacy_head
        assert audit.verify(ledger, store, by="after the upgrade").problems == []
        raw_sql(db_path, "UPDATE events SET kind = 'failed' WHERE event_id = 3")
        assert problems(ledger, store)[0] == "event 3: content does not match its legacy hash"


# --- the key --------------------------------------------------------------------------


def test_a_production_ledger_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(chain_key.ENV_VAR, raising=False)
    with pytest.raises(chain_key.LedgerKeyMissing, match="set MISSIVA_LEDGER_KEY"):
        Ledger("postgresql+psycopg://missiva:secret@db.invalid/ledger", upgrade=False)
    assert chain_key.resolve("sqlite:///demo.db") == chain_key.DEMO_KEY.encode()
    monkeypatch.setenv(chain_key.ENV_VAR, "from-env")
    assert chain_key.resolve("postgresql+psycopg://db.invalid/ledger") == b"from-env"
    chain_key.install("from-connection")
    try:
        assert chain_key.resolve("postgresql+psycopg://db.invalid/ledger") == b"from-connection"
    finally:
        chain_key.install(None)


# --- incremental ----------------------------------------------------------------------


def test_incremental_verify_starts_at_the_last_verified_anchor(
    ledger: Ledger, store: LocalArtifactStore, db_path: Path
) -> None:
    assert audit.verify(ledger, store, full=False, by="first").scope == "full"  # none yet
    add(ledger, store, 5)
    result = audit.verify(ledger, store, full=False, by="second")
    assert (result.scope, result.communications, result.problems) == (
        "incremental from event 12",
        1,
        [],
    )
    add(ledger, store, 6)
    # an old row edited in SQL: only a full check re-reads every row
    raw_sql(
        db_path, "UPDATE communications SET recipient = 'x' WHERE communication_id = :c", c=cid(1)
    )
    assert problems(ledger, store, full=False) == []
    assert problems(ledger, store)[0].startswith(f"communication {cid(1)}: row differs")
    # a new row edited, and a new input record replaced: the incremental check sees both
    raw_sql(
        db_path, "UPDATE communications SET recipient = 'x' WHERE communication_id = :c", c=cid(6)
    )
    new_input = ledger.get(cid(6)).input_uri
    (store.root / object_key(ledger.get(cid(6)).data_sha256)).write_bytes(b'{"customer": 666}')
    assert problems(ledger, store, full=False) == [
        f"communication {cid(6)}: row differs from the digest recorded in event 18 "
        "(the row was edited)",
        f"communication {cid(6)}: input archived object {new_input} does not match its sha256",
    ]
