"""Content-addressed artifact stores: a local folder (embedded default) and S3.

Objects are stored once under ``sha256/<first two hex>/<hex>``; the reference a put
returns (``archive:sha256/<first two hex>/<hex>``) names the content relative to the
store, so archiving the same bytes twice is a no-op, any alteration is detectable by
re-hashing, and a store moved elsewhere (another folder, bucket or endpoint) still
resolves everything the ledger recorded.

Both backends implement :class:`ArtifactStore`; :func:`open_store` picks one from a
URL (``file:///abs/dir`` or ``s3://bucket/prefix?...``). The S3 backend lives in
:mod:`missiva.records.store_s3` and is imported only when asked for, so the local store does
not need boto3. The types and rules both share live in :mod:`missiva.records.artifacts`
(re-exported here).

Metadata (content type and a few ``str`` -> ``str`` pairs such as the journey and the
communication id) belongs to the first ``put`` of some bytes: the same bytes archived
again, even with other metadata, are not rewritten. The ledger, not the store, links
every communication to its artifact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.request import url2pathname

from missiva.files import write_atomic, write_once
from missiva.records.artifacts import (
    DEFAULT_CONTENT_TYPE,
    MAX_METADATA_BYTES,
    RESERVED_METADATA_KEYS,
    Artifact,
    ArtifactInfo,
    ArtifactIntegrityError,
    ArtifactStore,
    StoreError,
    StoreUnavailable,
    check_content_type,
    check_metadata,
    is_sha256,
    object_key,
    reference,
    require_sha256,
    resolve,
    sha256_hex,
)

if TYPE_CHECKING:
    from missiva.records.store_s3 import S3ArtifactStore

#: archived objects and sidecars are readable by their owner only
PRIVATE = 0o600

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_METADATA_BYTES",
    "RESERVED_METADATA_KEYS",
    "Artifact",
    "ArtifactInfo",
    "ArtifactIntegrityError",
    "ArtifactStore",
    "LocalArtifactStore",
    "StoreError",
    "StoreUnavailable",
    "check_content_type",
    "check_metadata",
    "is_sha256",
    "object_key",
    "open_store",
    "reference",
    "require_sha256",
    "resolve",
    "sha256_hex",
]


# --- the local folder ----------------------------------------------------------------


class LocalArtifactStore:
    """A folder of immutable objects addressed by their SHA-256.

    Metadata lives in a JSON sidecar ``<hex>.json`` next to the object, written once
    (before the object, so a crash never leaves an object without its metadata). A put
    with the default content type and no metadata writes no sidecar: its absence means
    exactly that.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def _path(self, sha256: str) -> Path:
        return self.root / object_key(sha256)

    def _sidecar(self, sha256: str) -> Path:
        return self._path(sha256).with_name(f"{sha256}.json")

    def uri_for(self, sha256: str) -> str:
        return reference(require_sha256(sha256))

    def put(
        self,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> Artifact:
        """Store ``data`` (atomically, once) and return its address."""
        check_content_type(content_type)
        extra = check_metadata(metadata)
        digest = sha256_hex(data)
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            sidecar = self._sidecar(digest)
            if (content_type != DEFAULT_CONTENT_TYPE or extra) and not sidecar.exists():
                record = {
                    "sha256": digest,
                    "size": len(data),
                    "content_type": content_type,
                    "metadata": extra,
                }
                write_once(
                    sidecar, json.dumps(record, indent=2, sort_keys=True).encode(), mode=PRIVATE
                )
            write_atomic(path, data, mode=PRIVATE)
        return Artifact(uri=reference(digest), sha256=digest, size=len(data))

    def _read(self, uri: str, sha256: str) -> bytes:
        path = self.root / resolve(uri, sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactIntegrityError(f"archived object {uri} is missing") from exc
        if sha256_hex(data) != sha256:
            raise ArtifactIntegrityError(f"archived object {uri} does not match its sha256")
        return data

    def get(self, uri: str, sha256: str) -> bytes:
        """Read an object back, refusing it unless it still hashes to ``sha256``."""
        return self._read(uri, sha256)

    def verify(self, uri: str, sha256: str) -> None:
        self._read(uri, sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(require_sha256(sha256)).is_file()

    def info(self, sha256: str) -> ArtifactInfo:
        path = self._path(require_sha256(sha256))
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ArtifactIntegrityError(f"archived object {path.as_uri()} is missing") from exc
        try:
            record = json.loads(self._sidecar(sha256).read_text(encoding="utf-8"))
        except FileNotFoundError:
            record = {}
        except ValueError as exc:
            raise ArtifactIntegrityError(f"metadata of {path.as_uri()} is unreadable") from exc
        return ArtifactInfo(
            uri=reference(sha256),
            sha256=sha256,
            size=size,
            content_type=record.get("content_type", DEFAULT_CONTENT_TYPE),
            metadata=dict(record.get("metadata", {})),
        )


# --- choosing a store ----------------------------------------------------------------


def open_store(url_or_settings: Any) -> ArtifactStore:
    """The store a URL, a path or a settings object names.

    - ``file:///abs/dir`` (or a plain absolute path, or a :class:`~pathlib.Path`):
      :class:`LocalArtifactStore`;
    - ``s3://bucket[/prefix][?option=value&...]``:
      :class:`~missiva.records.store_s3.S3ArtifactStore` with a boto3 client whose
      credentials come from the standard AWS chain (env vars,
      shared files, instance role). Options: ``endpoint_url``, ``region``,
      ``addressing_style`` (``path``/``virtual``; ``path`` by default with an
      ``endpoint_url``), ``retention_mode`` (``COMPLIANCE``/``GOVERNANCE``),
      ``retention_days``, ``legal_hold`` (``true``/``false``), ``connect_timeout``,
      ``read_timeout`` (seconds), ``max_attempts``. Unknown options are an error;
    - an object with ``archive_url`` (used when set) or ``archive_dir`` (e.g. Settings).
    """
    if isinstance(url_or_settings, os.PathLike):
        return LocalArtifactStore(Path(url_or_settings))
    if not isinstance(url_or_settings, str):
        url = getattr(url_or_settings, "archive_url", None)
        if url:
            return open_store(url)
        directory = getattr(url_or_settings, "archive_dir", None)
        if directory is None:
            raise TypeError(f"cannot open a store from {type(url_or_settings).__name__}")
        return LocalArtifactStore(Path(directory))
    url = url_or_settings.strip()
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return _open_s3(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL with a remote host is not supported: {url}")
        if parts.query or parts.fragment:
            raise ValueError(f"file URL takes no query or fragment: {url}")
        path = Path(url2pathname(parts.path))
        if not path.is_absolute():
            raise ValueError(f"file URL must name an absolute directory: {url}")
        return LocalArtifactStore(path)
    if parts.scheme == "" and url:
        path = Path(url)
        if not path.is_absolute():
            raise ValueError(f"archive path must be absolute: {url}")
        return LocalArtifactStore(path)
    raise ValueError(f"unsupported artifact store URL (use file:// or s3://): {url!r}")


_S3_OPTIONS = frozenset(
    {
        "endpoint_url",
        "region",
        "addressing_style",
        "retention_mode",
        "retention_days",
        "legal_hold",
        "connect_timeout",
        "read_timeout",
        "max_attempts",
    }
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _open_s3(url: str) -> S3ArtifactStore:
    from missiva.records.store_s3 import S3ArtifactStore, client_config, make_client

    parts = urlsplit(url)
    bucket = parts.netloc
    if not bucket or "@" in bucket or ":" in bucket:
        raise ValueError(f"s3 URL must be s3://bucket[/prefix] (no credentials): {url}")
    if parts.fragment:
        raise ValueError(f"s3 URL takes no fragment: {url}")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in _S3_OPTIONS:
            raise ValueError(f"unknown s3 store option {key!r} (known: {sorted(_S3_OPTIONS)})")
        if key in options:
            raise ValueError(f"s3 store option {key!r} given twice")
        options[key] = value

    def number(key: str, kind: type) -> Any:
        if key not in options:
            return None
        try:
            return kind(options[key])
        except ValueError:
            raise ValueError(f"s3 store option {key}={options[key]!r} is not a number") from None

    legal_hold = options.get("legal_hold", "false").lower()
    if legal_hold not in _TRUE | _FALSE:
        raise ValueError(f"s3 store option legal_hold={options['legal_hold']!r} is not a boolean")
    config_kwargs = {
        k: v
        for k, v in {
            "connect_timeout": number("connect_timeout", float),
            "read_timeout": number("read_timeout", float),
            "max_attempts": number("max_attempts", int),
        }.items()
        if v is not None
    }
    client = make_client(
        endpoint_url=options.get("endpoint_url") or None,
        region=options.get("region") or None,
        addressing_style=options.get("addressing_style") or None,
        config=client_config(**config_kwargs),
    )
    return S3ArtifactStore(
        client,
        bucket,
        prefix=unquote(parts.path).strip("/"),
        retention_mode=options.get("retention_mode") or None,
        retention_days=number("retention_days", int),
        legal_hold=legal_hold in _TRUE,
    )
