"""files.write_atomic / write_once: whole files or nothing, and durable renames."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from missiva import files
from missiva.files import write_atomic, write_once


@pytest.fixture
def synced_dirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories os.fsync was called on (their paths, via /proc/self/fd)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_replaces_the_content_and_fsyncs_the_directory(
    tmp_path: Path, synced_dirs: list[str]
) -> None:
    path = tmp_path / "index.json"
    path.write_bytes(b"old")
    assert write_atomic(path, b"new") is True
    assert path.read_bytes() == b"new"
    assert synced_dirs == [str(tmp_path)]
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_unchanged_content_is_not_rewritten(tmp_path: Path, synced_dirs: list[str]) -> None:
    path = tmp_path / "index.json"
    assert write_atomic(path, b"same") is True
    before = path.stat().st_ino
    assert write_atomic(path, b"same") is False
    assert path.stat().st_ino == before
    assert synced_dirs == [str(tmp_path)]  # only the first write


def test_a_failed_write_leaves_the_target_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "batch.pdf"
    path.write_bytes(b"complete")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"half")
    assert path.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["batch.pdf"]


def test_a_failed_rename_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: object, dst: object) -> None:
        raise PermissionError("read-only target")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / "x", b"data")
    assert list(tmp_path.iterdir()) == []


def test_mode_is_applied(tmp_path: Path) -> None:
    write_atomic(tmp_path / "private", b"x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_write_once_keeps_the_first_content(tmp_path: Path, synced_dirs: list[str]) -> None:
    path = tmp_path / "sidecar.json"
    assert write_once(path, b"first") is True
    assert write_once(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert synced_dirs == [str(tmp_path)]
    assert [p.name for p in tmp_path.iterdir()] == ["sidecar.json"]
