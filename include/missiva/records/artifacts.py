"""What every artifact store shares: the addresses, errors and rules of stored objects.

:mod:`missiva.records.store` (local folder, :func:`~missiva.records.store.open_store`)
and :mod:`missiva.records.store_s3` both build on this module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_CONTENT_TYPE = "application/octet-stream"
RESERVED_METADATA_KEYS = frozenset({"sha256"})
MAX_METADATA_BYTES = 2048  # S3's limit on user-defined metadata in a PUT
#: the scheme of an object's address relative to its store (:func:`reference`)
REFERENCE_SCHEME = "archive"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_CONTENT_TYPE = re.compile(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(;[\x20-\x7e]*)?"
)


class StoreError(Exception):
    """The artifact store cannot do what was asked (configuration, permissions...)."""


class ArtifactIntegrityError(StoreError):
    """An archived object is missing or its bytes no longer match its hash."""


class StoreUnavailable(StoreError):
    """The store did not answer (unreachable, timing out, failing) after its retries."""


@dataclass(frozen=True)
class Artifact:
    #: the store-relative :func:`reference` the ledger records
    uri: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ArtifactInfo:
    """What a store knows about an object besides its bytes."""

    uri: str
    sha256: str
    size: int
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class ArtifactStore(Protocol):
    """Immutable objects addressed by their SHA-256."""

    def put(
        self,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> Artifact:
        """Store ``data`` once and return its address; the same bytes are not rewritten."""
        ...

    def get(self, uri: str, sha256: str) -> bytes:
        """The bytes at ``uri``; :class:`ArtifactIntegrityError` if missing or altered."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether an object is stored under the address of ``sha256``."""
        ...

    def verify(self, uri: str, sha256: str) -> None:
        """Like :meth:`get` without keeping the bytes; raises when missing or altered."""
        ...

    def info(self, sha256: str) -> ArtifactInfo:
        """Size, content type and metadata of a stored object (not re-hashed)."""
        ...


# --- shared rules --------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256(value: str) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def object_key(sha256: str) -> str:
    """The content address of ``sha256`` relative to a store's root."""
    return f"sha256/{sha256[:2]}/{sha256}"


def reference(sha256: str) -> str:
    """What the ledger records for an object: its content address relative to the store
    (``archive:sha256/ab/<hex>``), so a store moved to another folder, bucket, prefix or
    endpoint still resolves every recorded object."""
    return f"{REFERENCE_SCHEME}:{object_key(sha256)}"


def resolve(uri: str, sha256: str) -> str:
    """The content address (relative to a store's root) that ``uri`` names, provided it
    is the address of ``sha256``; else :class:`ArtifactIntegrityError`.

    ``uri`` is a :func:`reference`, or an absolute ``file://`` or ``s3://`` URI recorded
    before references were relative (row digests cover it, so it is never rewritten): its
    tail is the content address, read from the store wherever the store now is."""
    key = object_key(require_sha256(sha256, error=ArtifactIntegrityError))
    legacy = isinstance(uri, str) and uri.startswith(("file:///", "s3://"))
    if uri == reference(sha256) or (legacy and uri.endswith(f"/{key}")):
        return key
    raise ArtifactIntegrityError(f"{uri} is not the address of sha256 {sha256}")


def check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type):
        raise ValueError(f"not a valid content type: {content_type!r}")
    return content_type


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The same rules on every backend, so a put that works locally works on S3.

    Keys: lowercase letters, digits and ``-`` (S3 lower-cases keys; proxies may drop
    headers with ``_``); values: printable ASCII (S3 metadata travels in HTTP headers);
    at most 2 KB in all; ``sha256`` is reserved for the store.
    """
    checked: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            hint = f" (use {key.lower().replace('_', '-')!r})" if isinstance(key, str) else ""
            raise ValueError(
                f"metadata key {key!r} must be lowercase letters, digits and '-'{hint}"
            )
        if key in RESERVED_METADATA_KEYS:
            raise ValueError(f"metadata key {key!r} is reserved for the store")
        if not isinstance(value, str) or not _PRINTABLE_ASCII.fullmatch(value):
            raise ValueError(f"metadata value of {key!r} must be printable ASCII: {value!r}")
        checked[key] = value
    if sum(len(k) + len(v) for k, v in checked.items()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata exceeds {MAX_METADATA_BYTES} bytes")
    return checked


def require_sha256(value: str, *, error: type[Exception] = ValueError) -> str:
    """``value`` if it is a lowercase hex SHA-256, else ``error``: a hash read from the
    ledger is never used as a path or key unless it is one."""
    if not is_sha256(value):
        raise error(f"not a lowercase hex SHA-256: {value!r}")
    return value
