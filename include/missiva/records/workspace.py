"""Working data every worker must see: plain, mutable objects under keys.

The archive (:mod:`missiva.records.store`) keeps immutable, content-addressed objects,
possibly under Object Lock. Some state is neither: it is written by one task and read
(or rewritten) by another that may run on another worker:

==========================  ================================  ==============================
what                        local store (demo, tests)         S3 store
==========================  ================================  ==============================
staging (extract, chunks)   ``settings.staging_dir``          ``<prefix>/work/staging/``
print drop and batches      ``settings.print_dir``            ``<prefix>/work/print/``
portal inbox indexes        ``settings.portal_dir``           ``<prefix>/work/portal/``
==========================  ================================  ==============================

:func:`workspace` picks one: with a local archive the folders of today
(:class:`LocalWorkspace`, one file per key); with the S3 archive the same bucket, under
``<prefix>/work/<area>/`` (:class:`S3Workspace`). Those objects are written with plain
``PutObject`` and no Object Lock parameters: they carry no retention and may be
overwritten and deleted (a bucket created by :func:`~missiva.records.store_s3.ensure_bucket`
has Object Lock without a default retention rule; a bucket with a default retention
rule would lock them too, so do not give the archive's bucket one). The ``sha256/``
keys of the archive and the ``work/`` keys never overlap.

Read-modify-write (a portal index, the print batches of a run) goes through
:meth:`lock`: an ``flock`` on a lock file locally; on S3 a lock object created with
``If-None-Match: *`` (only one creator wins), deleted on release and taken over when
older than ``stale_after`` seconds (its holder died).
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from missiva.files import write_atomic

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


class Workspace(Protocol):
    """Plain objects under ``/``-separated keys (no ``..``, no leading ``/``)."""

    def put(self, key: str, data: bytes) -> str:
        """Write ``data`` at ``key`` (atomically, replacing); return its location."""

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; :class:`FileNotFoundError` when there are none."""

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix`` (lock objects excepted), sorted."""

    def delete(self, key: str) -> None: ...

    def clear(self) -> int:
        """Delete everything under this workspace (every version, on S3); return how many
        objects there were."""

    def location(self, key: str) -> str:
        """Where ``key`` lives, for people: a path or an ``s3://`` URI."""

    def sub(self, prefix: str) -> Workspace:
        """The same workspace seen under ``prefix``."""

    def lock(self, name: str) -> Any:
        """A context manager holding the exclusive lock ``name`` (a key)."""


def _check(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a workspace key: {key!r}")
    return key


class LocalWorkspace:
    """A folder: one file per key."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalWorkspace({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / _check(key)

    def put(self, key: str, data: bytes) -> str:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return str(path)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(
            k
            for k in found
            if k.startswith(prefix)
            and not k.endswith(LOCK_SUFFIX)
            and not k.rsplit("/", 1)[-1].startswith(".")
        )

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def clear(self) -> int:
        count = sum(1 for p in self.root.rglob("*") if p.is_file()) if self.root.is_dir() else 0
        shutil.rmtree(self.root, ignore_errors=True)
        return count

    def location(self, key: str) -> str:
        return str(self.path(key)) if key else str(self.root)

    def sub(self, prefix: str) -> LocalWorkspace:
        return LocalWorkspace(self.root / _check(prefix))

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        path = self.path(name + LOCK_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield


class LockTimeout(TimeoutError):
    """The lock stayed taken for longer than the caller would wait."""


class S3Workspace:
    """Keys under ``prefix`` in an S3 bucket, written without retention."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        stale_after: float = 600.0,
        wait: float = 900.0,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.stale_after = stale_after
        self.wait = wait

    def __repr__(self) -> str:
        return f"S3Workspace({self.location('')!r})"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_check(key)}" if self.prefix else _check(key)

    def location(self, key: str) -> str:
        full = self._key(key) if key else self.prefix
        return f"s3://{self.bucket}/{full}"

    def put(self, key: str, data: bytes) -> str:
        from missiva.records.s3_errors import translated

        with translated(self.location(key)):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.location(key)

    def get(self, key: str) -> bytes:
        from missiva.records.artifacts import StoreError
        from missiva.records.s3_errors import MISSING_CODES, error_code, translated

        try:
            with translated(self.location(key)):
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
                try:
                    return body.read()
                finally:
                    body.close()
        except StoreError as exc:
            if error_code(exc.__cause__) in MISSING_CODES:
                raise FileNotFoundError(self.location(key)) from exc
            raise

    def exists(self, key: str) -> bool:
        try:
            self.get(key)
        except FileNotFoundError:
            return False
        return True

    def list_keys(self, prefix: str = "") -> list[str]:
        from missiva.records.s3_errors import translated

        base = f"{self.prefix}/" if self.prefix else ""
        found = []
        with translated(self.location(prefix or "")):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                found.extend(o["Key"].removeprefix(base) for o in page.get("Contents", ()))
        return sorted(k for k in found if not k.endswith(LOCK_SUFFIX))

    def delete(self, key: str) -> None:
        from missiva.records.s3_errors import translated

        with translated(self.location(key)):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def clear(self) -> int:
        """Every version and delete marker under the prefix, not just the current objects:
        in a versioned bucket a plain delete keeps the data as a noncurrent version."""
        from missiva.records.s3_errors import translated

        base = f"{self.prefix}/" if self.prefix else ""
        versions: list[tuple[str, str]] = []
        keys: set[str] = set()
        with translated(self.location("")):
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=base
            )
            for page in pages:
                keys.update(v["Key"] for v in page.get("Versions", ()))
                found = [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]
                versions.extend((v["Key"], v["VersionId"]) for v in found)
            self._delete_versions(versions)
        return len(keys)

    def _delete_versions(self, versions: list[tuple[str, str]]) -> None:
        from missiva.records.artifacts import StoreError

        for start in range(0, len(versions), 1000):  # DeleteObjects takes up to 1000
            batch = versions[start : start + 1000]
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={
                    "Objects": [{"Key": key, "VersionId": version} for key, version in batch],
                    "Quiet": True,
                },
            )
            if errors := answer.get("Errors"):
                first = errors[0]
                raise StoreError(
                    f"S3 refused to delete {len(errors)} object version(s) of "
                    f"{self.location('')}; first: {first.get('Key')}: {first.get('Message')}"
                )

    def sub(self, prefix: str) -> S3Workspace:
        return S3Workspace(
            self.client,
            self.bucket,
            self._key(prefix),
            stale_after=self.stale_after,
            wait=self.wait,
        )

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        from missiva.records.artifacts import StoreError
        from missiva.records.s3_errors import error_code, translated

        key = self._key(name + LOCK_SUFFIX)
        owner = uuid.uuid4().hex.encode()
        deadline = time.monotonic() + self.wait
        pause = 0.05
        while True:
            try:
                with translated(f"s3://{self.bucket}/{key}"):
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=owner, IfNoneMatch="*")
                break
            except StoreError as exc:
                if error_code(exc.__cause__) not in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise
            self._break_if_stale(key)
            if time.monotonic() > deadline:
                raise LockTimeout(f"s3://{self.bucket}/{key} still held after {self.wait:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
        try:
            yield
        finally:
            with translated(f"s3://{self.bucket}/{key}"):
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def _break_if_stale(self, key: str) -> None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception:  # gone meanwhile (or unreadable): just try again
            return
        age = (datetime.now(UTC) - head["LastModified"]).total_seconds()
        if age > self.stale_after:
            log.warning("breaking the stale lock s3://%s/%s (%.0f s old)", self.bucket, key, age)
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=head["ETag"])
            except Exception:  # taken over by someone else meanwhile
                return


def workspace(store: Any, local_dir: Path, area: str) -> Workspace:
    """Where ``area`` (``staging``, ``print``, ``portal``) lives for ``store``: under
    ``<prefix>/work/<area>/`` of an S3 store's bucket, else the local folder ``local_dir``."""
    from_store = getattr(store, "workspace", None)
    if from_store is not None:
        return from_store(area)
    return LocalWorkspace(local_dir)


def as_workspace(where: Path | str | Workspace) -> Workspace:
    """A folder given as a path, as a :class:`LocalWorkspace`; a workspace unchanged."""
    if isinstance(where, (str, Path)):
        return LocalWorkspace(where)
    return where
