"""Portal inbox: documents stored through the store function, one JSON index per customer."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from missiva.channels import ChannelAdapter, Delivery
from missiva.channels.portal import PortalInbox
from missiva.records.store import LocalArtifactStore

PDF = b"%PDF-1.7\n% welcome letter\n%%EOF\n"


class RecordingStore:
    """A store function that keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()

    def __call__(self, data: bytes, content_type: str, owner: str) -> str:
        with self.lock:
            self.calls.append((data, content_type))
        return f"mem://{hashlib.sha256(data).hexdigest()}"


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


def index_file(folder: Path, customer: str) -> dict:
    return json.loads((folder / f"{customer}.json").read_bytes())


def test_deliver_stores_indexes_and_links(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path)
    link = inbox.deliver("C-1001", "comm-1", "Benvenuta in Missiva", PDF)
    assert link == "portal://inbox/C-1001/comm-1"
    assert store.calls == [(PDF, "application/pdf")]
    index = index_file(tmp_path, "C-1001")
    assert index["customer_id"] == "C-1001"
    assert index["documents"] == [
        {
            "communication_id": "comm-1",
            "title": "Benvenuta in Missiva",
            "content_type": "application/pdf",
            "uri": f"mem://{hashlib.sha256(PDF).hexdigest()}",
            "sha256": hashlib.sha256(PDF).hexdigest(),
            "size": len(PDF),
            "link": link,
        }
    ]
    assert inbox.inbox("C-1001") == index["documents"]
    assert inbox.inbox("nobody") == []


def test_base_url_links(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path, base_url="https://portal.missiva.example/")
    link = inbox.deliver("C 7/8", "comm-1", "Estratto", b"<html></html>", "text/html")
    assert link == "https://portal.missiva.example/inbox/C%207%2F8/comm-1"


def test_redelivery_is_idempotent(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path)
    when = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)
    first = inbox.deliver("C-1", "comm-1", "Welcome", PDF, delivered_at=when)
    before = (tmp_path / "C-1.json").read_bytes()
    later = datetime(2026, 11, 4, tzinfo=UTC)
    assert inbox.deliver("C-1", "comm-1", "Welcome", PDF, delivered_at=later) == first
    assert (tmp_path / "C-1.json").read_bytes() == before
    assert len(store.calls) == 1
    assert inbox.inbox("C-1")[0]["delivered_at"] == "2026-11-03T08:30:00+00:00"


def test_documents_accumulate_in_delivery_order(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path)
    for n in (3, 1, 2):
        inbox.deliver("C-1", f"comm-{n}", f"Doc {n}", PDF + bytes([n]))
    inbox.deliver("C-2", "comm-9", "Other customer", PDF)
    assert [d["communication_id"] for d in inbox.inbox("C-1")] == ["comm-3", "comm-1", "comm-2"]
    assert [d["communication_id"] for d in inbox.inbox("C-2")] == ["comm-9"]


def test_changed_document_replaces_its_entry(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path)
    inbox.deliver("C-1", "comm-1", "Welcome", PDF)
    inbox.deliver("C-1", "comm-2", "Statement", PDF + b"2")
    inbox.deliver("C-1", "comm-1", "Welcome", PDF + b"v2")
    documents = inbox.inbox("C-1")
    assert [d["communication_id"] for d in documents] == ["comm-1", "comm-2"]
    assert documents[0]["sha256"] == hashlib.sha256(PDF + b"v2").hexdigest()
    assert documents[0]["replaces_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert len(store.calls) == 3


def test_customer_ids_cannot_escape_the_index_folder(tmp_path: Path, store: RecordingStore) -> None:
    folder = tmp_path / "inbox"
    inbox = PortalInbox(store, folder)
    inbox.deliver("../../etc/passwd", "comm-1", "x", PDF)
    inbox.deliver("..", "comm-2", "y", PDF)
    assert sorted(p.parent for p in tmp_path.rglob("*.json")) == [folder, folder]
    assert [d["communication_id"] for d in inbox.inbox("../../etc/passwd")] == ["comm-1"]
    assert [d["communication_id"] for d in inbox.inbox("..")] == ["comm-2"]


def test_concurrent_deliveries_to_one_customer_lose_nothing(
    tmp_path: Path, store: RecordingStore
) -> None:
    inbox = PortalInbox(store, tmp_path)
    barrier = threading.Barrier(8)

    def deliver(n: int) -> None:
        barrier.wait()
        for k in range(10):
            PortalInbox(store, tmp_path).deliver("C-1", f"comm-{n}-{k}", "t", PDF + bytes([n, k]))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = {d["communication_id"] for d in inbox.inbox("C-1")}
    assert ids == {f"comm-{n}-{k}" for n in range(8) for k in range(10)}
    assert not list(tmp_path.glob(".*.tmp"))


def test_with_the_real_artifact_store(tmp_path: Path) -> None:
    archive = LocalArtifactStore(tmp_path / "archive")
    inbox = PortalInbox(lambda data, _type, _owner: archive.put(data).uri, tmp_path / "inbox")
    inbox.deliver("C-1", "comm-1", "Welcome", PDF)
    (entry,) = inbox.inbox("C-1")
    assert archive.get(entry["uri"], entry["sha256"]) == PDF


def test_as_channel_adapter(tmp_path: Path, store: RecordingStore) -> None:
    inbox = PortalInbox(store, tmp_path)
    assert isinstance(inbox, ChannelAdapter)
    delivery = Delivery(
        communication_id="comm-1",
        idempotency_key="welcome/C-1/2026-11-03",
        recipient="C-1",
        payload=PDF,
        content_type="application/pdf",
        metadata={"customer_id": "C-1", "title": "Welcome"},
    )
    with inbox:
        assert inbox.send(delivery).provider_message_id == "portal://inbox/C-1/comm-1"
        assert inbox.send(delivery).provider_message_id == "portal://inbox/C-1/comm-1"
        with pytest.raises(ValueError, match="title"):
            inbox.send(Delivery("comm-2", "k", "C-1", PDF, "application/pdf", {"customer_id": 1}))
    assert len(inbox.inbox("C-1")) == 1
    assert len(store.calls) == 1
