"""The local content-addressed store: sidecar metadata, info/exists/verify, input checks."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from missiva.records.store import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactInfo,
    ArtifactIntegrityError,
    ArtifactStore,
    LocalArtifactStore,
    check_metadata,
    object_key,
)

LETTER = b"%PDF-1.7\n" + bytes(range(256))
META = {"journey": "onboarding", "communication-id": "6f1c2b9e-0d4a-5e8f-9b7c-3a2d1e0f4c5b"}


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_is_an_artifact_store(tmp_path: Path) -> None:
    assert isinstance(LocalArtifactStore(tmp_path), ArtifactStore)


def test_sidecar_records_content_type_and_metadata(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)

    digest = hashlib.sha256(LETTER).hexdigest()
    folder = tmp_path / "sha256" / digest[:2]
    assert files(tmp_path) == [folder / digest, folder / f"{digest}.json"]
    assert json.loads((folder / f"{digest}.json").read_text()) == {
        "sha256": digest,
        "size": len(LETTER),
        "content_type": "application/pdf",
        "metadata": META,
    }
    assert store.info(digest) == ArtifactInfo(
        uri=artifact.uri,
        sha256=digest,
        size=len(LETTER),
        content_type="application/pdf",
        metadata=META,
    )


def test_sidecar_is_written_once(tmp_path: Path) -> None:
    """Metadata belongs to the first archiving of some bytes, as on S3."""
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)
    sidecar = tmp_path / f"{object_key(artifact.sha256)}.json"
    before = (sidecar.read_bytes(), sidecar.stat().st_mtime_ns)

    again = store.put(LETTER, content_type="text/plain", metadata={"journey": "renewal"})

    assert again == artifact
    assert (sidecar.read_bytes(), sidecar.stat().st_mtime_ns) == before
    assert store.info(artifact.sha256).metadata == META


def test_default_put_writes_no_sidecar(tmp_path: Path) -> None:
    """No sidecar means the default content type and no metadata, so the store's
    layout for ``put(data)`` is what it was: one file per object."""
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(b"hello")
    assert [f.name for f in files(tmp_path)] == [artifact.sha256]
    info = store.info(artifact.sha256)
    assert (info.content_type, dict(info.metadata), info.size) == (DEFAULT_CONTENT_TYPE, {}, 5)


def test_a_sidecar_left_by_an_interrupted_put_is_kept(tmp_path: Path) -> None:
    """The sidecar is written before the object: a put that died in between left the
    metadata of these very bytes, and the next put completes it."""
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)
    (tmp_path / object_key(artifact.sha256)).unlink()

    store.put(LETTER, content_type="text/plain", metadata={"journey": "other"})

    assert store.get(artifact.uri, artifact.sha256) == LETTER
    assert store.info(artifact.sha256).metadata == META


def test_exists_and_verify(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(b"the archived letter", metadata={"journey": "onboarding"})
    assert store.exists(artifact.sha256)
    assert not store.exists(hashlib.sha256(b"other").hexdigest())
    store.verify(artifact.uri, artifact.sha256)

    path = tmp_path / object_key(artifact.sha256)
    path.write_bytes(b"the archived letteR")
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        store.verify(artifact.uri, artifact.sha256)
    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.verify(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.info(artifact.sha256)
    assert not store.exists(artifact.sha256)


@pytest.mark.parametrize(
    "sha256",
    ["../../../etc/passwd", "A" * 64, "ab" * 31, "g" * 64, ""],
)
def test_addresses_must_be_sha256(tmp_path: Path, sha256: str) -> None:
    """A hash from the ledger is never used as a path unless it is one."""
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        store.get((tmp_path / sha256).as_uri(), sha256)
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        store.verify((tmp_path / sha256).as_uri(), sha256)
    with pytest.raises(ValueError, match="SHA-256"):
        store.exists(sha256)
    with pytest.raises(ValueError, match="SHA-256"):
        store.info(sha256)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"communication_id": "x"}, "'communication-id'"),
        ({"Journey": "x"}, "lowercase"),
        ({"-journey": "x"}, "lowercase"),
        ({"sha256": "x"}, "reserved"),
        ({"name": "Zoë"}, "printable ASCII"),
        ({"note": "two\nlines"}, "printable ASCII"),
        ({"n": 1}, "printable ASCII"),
        ({f"k{i}": "v" * 100 for i in range(25)}, "2048 bytes"),
    ],
)
def test_metadata_that_s3_could_not_carry_is_refused(
    tmp_path: Path, metadata: dict, message: str
) -> None:
    """The same rules on both backends: what works locally also works on S3."""
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError, match=message):
        store.put(b"data", metadata=metadata)
    assert files(tmp_path) == []


@pytest.mark.parametrize("content_type", ["pdf", "", "text/plain\r\nX-Evil: 1", "a b/c"])
def test_invalid_content_type_is_refused(tmp_path: Path, content_type: str) -> None:
    with pytest.raises(ValueError, match="content type"):
        LocalArtifactStore(tmp_path).put(b"data", content_type=content_type)
    assert files(tmp_path) == []


def test_valid_metadata_passes_unchanged() -> None:
    assert check_metadata(None) == {}
    assert check_metadata(META) == META
    assert check_metadata({"template-version": "welcome@3", "empty": ""}) == {
        "template-version": "welcome@3",
        "empty": "",
    }


def test_racing_puts_leave_one_sidecar_and_no_temporary_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    barrier = threading.Barrier(8)

    def put(i: int) -> Artifact:
        barrier.wait()
        return store.put(LETTER, content_type="application/pdf", metadata={"n": str(i)})

    with ThreadPoolExecutor(8) as pool:
        artifacts = set(pool.map(put, range(8)))

    (artifact,) = artifacts
    assert [f.name for f in files(tmp_path)] == [artifact.sha256, f"{artifact.sha256}.json"]
    assert store.info(artifact.sha256).metadata["n"] in {str(i) for i in range(8)}
    assert store.get(artifact.uri, artifact.sha256) == LETTER


def test_an_unreadable_sidecar_is_an_integrity_error(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    artifact = store.put(LETTER, content_type="application/pdf")
    (tmp_path / f"{object_key(artifact.sha256)}.json").write_text("{not json")
    with pytest.raises(ArtifactIntegrityError, match="metadata"):
        store.info(artifact.sha256)


def test_references_are_relative_so_a_moved_store_still_resolves_them(tmp_path: Path) -> None:
    """What the ledger records names the content, not the folder: a copied archive
    serves every reference, and a legacy absolute URI (recorded before references were
    relative) is read by its content address from wherever the store now is."""
    old = LocalArtifactStore(tmp_path / "old")
    artifact = old.put(LETTER, content_type="application/pdf")
    legacy = (old.root / object_key(artifact.sha256)).as_uri()
    assert artifact.uri == f"archive:{object_key(artifact.sha256)}"
    assert old.uri_for(artifact.sha256) == artifact.uri

    (tmp_path / "old").rename(tmp_path / "moved")
    moved = LocalArtifactStore(tmp_path / "moved")
    assert moved.get(artifact.uri, artifact.sha256) == LETTER
    assert moved.get(legacy, artifact.sha256) == LETTER
    moved.verify(legacy, artifact.sha256)

    other = hashlib.sha256(b"other").hexdigest()
    for wrong in (
        f"archive:{object_key(other)}",  # another object's reference
        legacy.replace(artifact.sha256, other),  # a legacy URI of another object
        f"archive:../{object_key(artifact.sha256)}",
        f"http://example.org/{object_key(artifact.sha256)}",  # not an archive URI
    ):
        with pytest.raises(ArtifactIntegrityError, match="not the address"):
            moved.get(wrong, artifact.sha256)
