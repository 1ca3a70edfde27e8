"""Files that are never seen half-written: drop folders, indexes, staging, the archive.

Both helpers write the bytes to a hidden temporary file in the target's folder, flush
and fsync it, put it in place with one rename (or hard link), then fsync the folder so
the new name survives a crash. Readers see the old file or the new one, never a part.
"""

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o666) -> bool:
    """Replace ``path`` with ``data`` unless it already holds exactly that; True if written.

    The file is created with ``mode`` masked by the process umask (by default readable
    by whoever may read the folder, e.g. a print pick-up job).
    """
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = _synced_copy(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return True


def write_once(path: Path, data: bytes, *, mode: int = 0o666) -> bool:
    """Create ``path`` with ``data`` unless it exists; True if this call created it.

    Atomic even between racing writers: a hard link never replaces its target (on a
    file system without hard links the rename falls back to checking first).
    """
    tmp = _synced_copy(path, data, mode)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            if path.exists():
                return False
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new name in it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _synced_copy(path: Path, data: bytes, mode: int) -> Path:
    """A new hidden file next to ``path`` holding ``data``, flushed to disk."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
