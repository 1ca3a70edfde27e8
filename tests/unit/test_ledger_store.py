"""Tests for the communications ledger (idempotency, outbox, hash chain) and the store."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from datetime import UTC
from pathlib import Path

import pytest
from ledger_fixtures import fields, raw_sql

from missiva.records.errors import LedgerError
from missiva.records.ledger import Ledger
from missiva.records.models import Event, row_digest
from missiva.records.store import ArtifactIntegrityError, LocalArtifactStore

GENESIS = "0" * 64


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{db_path}")


def expected_hash(event: Event) -> str:
    """Recompute an event's HMAC (under the tests' ledger key) from its stored content
    and its prev_hash."""
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    payload = [event.prev_hash, event.communication_id, event.kind, event.detail, at.isoformat()]
    key = os.environ["MISSIVA_LEDGER_KEY"].encode()
    return hmac.new(key, json.dumps(payload, ensure_ascii=False).encode(), "sha256").hexdigest()


def assert_chain_intact(events: list[Event]) -> None:
    assert events, "no events at all"
    prev = GENESIS
    for event in events:
        assert event.prev_hash == prev, f"event {event.event_id} does not follow its predecessor"
        assert event.hash == expected_hash(event), f"event {event.event_id} was altered"
        prev = event.hash


def test_add_is_idempotent_on_the_idempotency_key(ledger: Ledger, db_path: Path) -> None:
    assert ledger.add(**fields(1)) is True
    assert ledger.add(**fields(1)) is False
    # same key under another communication id: still refused by the unique key
    other_id = fields(1, communication_id="11111111-1111-1111-1111-111111111111")
    assert ledger.add(**other_id) is False
    assert ledger.count() == 1
    keys = raw_sql(db_path, "SELECT idempotency_key FROM communications")
    assert keys == [("onboarding/welcome/C000001/2026-11-02",)]
    # a refused add leaves no event behind
    assert len(ledger.events()) == 1


def test_add_stores_the_fields(ledger: Ledger) -> None:
    ledger.add(**fields(2, channel="email", recipient="a@example.com"))
    row = ledger.get(fields(2)["communication_id"])
    assert row is not None
    assert (row.status, row.channel, row.recipient) == ("composed", "email", "a@example.com")
    assert row.created_at is not None
    assert ledger.by_keys([fields(2)["idempotency_key"], "unknown"]).keys() == {
        fields(2)["idempotency_key"]
    }


def test_transition_follows_the_outbox_states(ledger: Ledger) -> None:
    comm_id = fields(1)["communication_id"]
    ledger.add(**fields(1))
    ledger.transition(comm_id, "composed", "sending", task_id="deliver", try_number=2)
    ledger.transition(comm_id, "sending", "sent", provider_message_id="Q1")
    row = ledger.get(comm_id)
    assert (row.status, row.task_id, row.try_number, row.provider_message_id) == (
        "sent",
        "deliver",
        2,
        "Q1",
    )


@pytest.mark.parametrize(
    ("actual", "expected", "new"),
    [
        ("composed", "sending", "sent"),  # never sent without passing through 'sending'
        ("sent", "composed", "sending"),  # a sent communication is never sent again
        ("suppressed", "composed", "sending"),
        ("quarantined", "composed", "sending"),
    ],
)
def test_transition_refuses_an_unexpected_status(
    ledger: Ledger, actual: str, expected: str, new: str
) -> None:
    comm_id = fields(1)["communication_id"]
    ledger.add(**fields(1, status=actual))
    events_before = len(ledger.events())
    with pytest.raises(LedgerError, match=f"not {expected!r}"):
        ledger.transition(comm_id, expected, new)
    assert ledger.get(comm_id).status == actual
    assert len(ledger.events()) == events_before


def test_transition_of_an_unknown_communication_raises(ledger: Ledger) -> None:
    with pytest.raises(LedgerError):
        ledger.transition("no-such-id", "composed", "sending")
    assert ledger.events() == []


def test_a_second_send_attempt_is_refused(ledger: Ledger) -> None:
    """Two workers racing to send the same communication: only one may move it."""
    comm_id = fields(1)["communication_id"]
    ledger.add(**fields(1))
    ledger.transition(comm_id, "composed", "sending")
    with pytest.raises(LedgerError):
        ledger.transition(comm_id, "composed", "sending")


def test_every_add_and_transition_appends_a_chained_event(ledger: Ledger) -> None:
    for n in range(1, 4):
        assert ledger.add(**fields(n))
    ledger.add(**fields(1))  # duplicate: no event
    ids = [fields(n)["communication_id"] for n in range(1, 4)]
    ledger.transition(ids[0], "composed", "sending")
    ledger.transition(ids[0], "sending", "sent", provider_message_id="Q1")
    ledger.transition(ids[1], "composed", "sending")
    ledger.transition(ids[1], "sending", "failed", reason="refused")

    events = ledger.events()
    assert [(e.communication_id, e.kind) for e in events] == [
        (ids[0], "composed"),
        (ids[1], "composed"),
        (ids[2], "composed"),
        (ids[0], "sending"),
        (ids[0], "sent"),
        (ids[1], "sending"),
        (ids[1], "failed"),
    ]
    assert events[0].prev_hash == GENESIS
    assert_chain_intact(events)
    detail = json.loads(events[6].detail)
    assert detail == {"reason": "refused", "row_digest": row_digest(ledger.get(ids[1]))}
    assert [e.kind for e in ledger.events(ids[0])] == ["composed", "sending", "sent"]


def test_add_many_records_rows_once_in_one_transaction(ledger: Ledger, db_path: Path) -> None:
    ledger.add(**fields(2))
    rows = [fields(1), fields(2), fields(3, blocks={"privacy": "v2"}), fields(1)]
    # 2 was recorded before; the second 1 repeats the first
    assert ledger.add_many(rows) == 2
    assert ledger.add_many([fields(1), fields(3)]) == 0
    assert sorted(k for (k,) in raw_sql(db_path, "SELECT customer_id FROM communications")) == [
        "C000001",
        "C000002",
        "C000003",
    ]
    assert raw_sql(db_path, "SELECT block, version FROM communication_blocks") == [
        ("privacy", "v2")
    ]
    events = ledger.events()
    assert len(events) == 3
    assert_chain_intact(events)


def test_add_many_after_a_concurrent_writer_adds_one_by_one(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    Ledger(ledger.engine.url.render_as_string()).add(**fields(2))
    # another writer adds 2 between add_many's look-up and its insert: the look-up missed it
    look_ups = iter([lambda keys: {}])
    looked_up = ledger.by_keys
    monkeypatch.setattr(ledger, "by_keys", lambda keys: next(look_ups, looked_up)(keys))
    assert ledger.add_many([fields(1), fields(2), fields(3)]) == 2
    assert ledger.count() == 3
    assert_chain_intact(ledger.events())


def test_a_batch_records_its_rows_every_size_adds_and_on_leaving(
    ledger: Ledger, db_path: Path
) -> None:
    with ledger.batch(2) as pending:
        pending.add(**fields(1))
        assert ledger.count() == 0  # not yet: a row is in the ledger once flushed
        pending.add(**fields(2))
        assert ledger.count() == 2
        pending.add(**fields(3))
        assert ledger.count() == 2
    assert ledger.count() == 3
    with pytest.raises(RuntimeError), ledger.batch(10) as pending:
        pending.add(**fields(4))
        raise RuntimeError("the task fails: what it composed is still recorded")
    assert ledger.count() == 4
    assert_chain_intact(ledger.events())


def test_an_edited_event_breaks_the_chain(ledger: Ledger, db_path: Path) -> None:
    for n in range(1, 4):
        ledger.add(**fields(n))
    assert_chain_intact(ledger.events())
    raw_sql(db_path, "UPDATE events SET detail = :d WHERE event_id = 2", d='{"reason": "edited"}')
    with pytest.raises(AssertionError, match="altered"):
        assert_chain_intact(ledger.events())


def test_concurrent_writers_extend_one_chain(db_path: Path) -> None:
    url = f"sqlite:///{db_path}"
    Ledger(url)  # create the schema once
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        mine = Ledger(url)
        try:
            for n in range(offset, offset + 10):
                mine.add(**fields(n))
                mine.transition(fields(n)["communication_id"], "composed", "sending")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ledger = Ledger(url)
    assert ledger.count() == 40
    events = ledger.events()
    assert len(events) == 80
    assert_chain_intact(events)


# --- the content-addressed artifact store -------------------------------------------


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_store_round_trip(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "archive")
    data = b"%PDF-1.7\n" + bytes(range(256))
    artifact = store.put(data)
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.size == len(data)
    assert artifact.uri == f"archive:sha256/{artifact.sha256[:2]}/{artifact.sha256}"
    assert store.get(artifact.uri, artifact.sha256) == data
    # a fresh store on the same folder finds it too
    assert LocalArtifactStore(tmp_path / "archive").get(artifact.uri, artifact.sha256) == data


def test_same_bytes_same_uri_stored_once(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    store = LocalArtifactStore(root)
    first = store.put(b"hello")
    second = store.put(b"hello")
    other = store.put(b"hello!")
    assert first == second
    assert other.uri != first.uri
    files = stored_files(root)
    assert len(files) == 2  # no duplicates, no leftover temporary files
    assert {f.name for f in files} == {first.sha256, other.sha256}


def test_put_does_not_overwrite_an_existing_object(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put(b"original")
    path = stored_files(tmp_path)[0]
    mtime = path.stat().st_mtime_ns
    store.put(b"original")
    assert path.stat().st_mtime_ns == mtime


def test_get_detects_an_altered_object(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(b"the archived letter")
    (path,) = stored_files(tmp_path)
    path.write_bytes(b"the archived letteR")
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        store.get(artifact.uri, artifact.sha256)


def test_get_detects_a_deleted_object(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(b"the archived letter")
    stored_files(tmp_path)[0].unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.get(artifact.uri, artifact.sha256)


def test_get_refuses_a_uri_that_is_not_the_hash_address(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    a = store.put(b"a")
    b = store.put(b"b")
    with pytest.raises(ArtifactIntegrityError):
        store.get(a.uri, b.sha256)
