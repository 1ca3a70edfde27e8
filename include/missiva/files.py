"""Atomic file replacement for the channels' drop folders and indexes."""

import os
import uuid
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` unless it already holds exactly that; True if written.

    The bytes go to a hidden temporary file in the same folder (created with the
    process umask, so readers such as a print pick-up job can open the result), are
    flushed to disk, then renamed over ``path``: readers see the old or the new file,
    never half of one.
    """
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
