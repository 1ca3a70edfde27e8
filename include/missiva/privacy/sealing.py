"""Sealed objects: the archive holds a customer's personal data only as AES-256-GCM
ciphertext under that customer's data key (:mod:`missiva.privacy.keys`).

:class:`SealedStore` wraps any :class:`~missiva.records.artifacts.ArtifactStore`. A put
with an ``owner`` (the customer) stores ``MAGIC | key id | nonce | ciphertext+tag`` at
the content address of the *ciphertext* and returns the *plaintext's* SHA-256, which is
what the ledger records (audit hashes are over what the customer got). Reading an
object whose address differs from the recorded hash opens it: the ciphertext is checked
against its address, then decrypted, then the plaintext against the ledger's hash.
Once the key is destroyed, :meth:`SealedStore.get` raises
:class:`~missiva.privacy.keys.CustomerErased` while :meth:`SealedStore.verify` still
checks the ciphertext (the object is intact, only unreadable).

The nonce is an HMAC of the plaintext under the data key, so sealing the same bytes
for the same customer twice gives the same object (a retried put stays a no-op) and
a nonce never repeats for different bytes.
"""

import hashlib
import hmac
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from missiva.privacy.keys import CustomerErased, DataKey, Keyring, Purged
from missiva.records.artifacts import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactInfo,
    ArtifactIntegrityError,
    ArtifactStore,
    is_sha256,
    sha256_hex,
)
from missiva.records.ledger import Ledger
from missiva.records.models import Event

#: the chained event recording objects removed at the end of their retention
PURGED = "purged"

MAGIC = b"MSVSEAL1"
_HEADER = len(MAGIC) + 16 + 12


def seal(key: DataKey, plaintext: bytes) -> bytes:
    header = MAGIC + bytes.fromhex(key.key_id)
    nonce = hmac.new(key.key, plaintext, hashlib.sha256).digest()[:12]
    return header + nonce + AESGCM(key.key).encrypt(nonce, plaintext, header)


def key_id_of(sealed: bytes) -> str | None:
    """The data key a sealed object needs (``None``: not a sealed object)."""
    if len(sealed) < _HEADER + 16 or not sealed.startswith(MAGIC):
        return None
    return sealed[len(MAGIC) : len(MAGIC) + 16].hex()


def unseal(key: DataKey, sealed: bytes) -> bytes:
    header, nonce = sealed[: len(MAGIC) + 16], sealed[len(MAGIC) + 16 : _HEADER]
    try:
        return AESGCM(key.key).decrypt(nonce, sealed[_HEADER:], header)
    except InvalidTag:
        raise ArtifactIntegrityError(
            f"sealed object does not open under key {key.key_id}"
        ) from None


def address_of(uri: str) -> str | None:
    """The SHA-256 a content-addressed URI names (its last segment)."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return last if is_sha256(last) else None


class SealedStore:
    """An artifact store that seals what belongs to a customer (see the module)."""

    def __init__(self, inner: ArtifactStore, keyring: Keyring) -> None:
        self.inner, self.keyring = inner, keyring

    def __repr__(self) -> str:
        return f"SealedStore({self.inner!r})"

    def __getattr__(self, name: str) -> Any:  # workspace(), client, root... of the store
        return getattr(self.inner, name)

    def put(
        self,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
        owner: str | None = None,
    ) -> Artifact:
        """Store ``data``; sealed under ``owner``'s data key when an owner is given."""
        if not owner:
            return self.inner.put(data, content_type=content_type, metadata=metadata)
        sealed = seal(self.keyring.current(str(owner)), data)
        extra = {**(metadata or {}), "sealed": "aes-256-gcm"}
        stored = self.inner.put(sealed, content_type=content_type, metadata=extra)
        return Artifact(uri=stored.uri, sha256=sha256_hex(data), size=len(data))

    def _sealed_bytes(self, uri: str, sha256: str) -> bytes | None:
        """The ciphertext at ``uri`` (checked against its address); ``None`` when the
        object is stored in the clear (its address is ``sha256``)."""
        address = address_of(uri)
        if address is None or address == sha256:
            return None
        return self.inner.get(uri, address)

    def _open(self, uri: str, sha256: str, sealed: bytes) -> bytes:
        key_id = key_id_of(sealed)
        if key_id is None:
            raise ArtifactIntegrityError(f"archived object {uri} is not the sha256 {sha256}")
        data = unseal(self.keyring.by_id(key_id), sealed)
        if sha256_hex(data) != sha256:
            raise ArtifactIntegrityError(
                f"archived object {uri} decrypts to bytes that do not match sha256 {sha256}"
            )
        return data

    def purged(self, uri: str) -> str | None:
        """When a chained ``purged`` event recorded removing ``uri`` (``None``: never)."""
        address = address_of(uri)
        if address is None:
            return None
        query = select(Event.at).where(Event.kind == PURGED, Event.detail.contains(address))
        with self.keyring.ledger.engine.connect() as conn:
            at = conn.scalar(query.limit(1))
        return at.date().isoformat() if at else None

    def _missing(self, uri: str, exc: ArtifactIntegrityError) -> Purged:
        """:class:`Purged` when the retention purge removed ``uri``, else ``exc`` again."""
        when = self.purged(uri)
        if when is None:
            raise exc
        return Purged(f"purged on {when}: its retention period expired")

    def get(self, uri: str, sha256: str) -> bytes:
        """The plaintext, checked against ``sha256``; ``CustomerErased`` once erased,
        ``Purged`` once removed at the end of its retention."""
        try:
            sealed = self._sealed_bytes(uri, sha256)
            if sealed is None:
                return self.inner.get(uri, sha256)
        except ArtifactIntegrityError as exc:
            raise self._missing(uri, exc) from exc
        return self._open(uri, sha256, sealed)

    def verify(self, uri: str, sha256: str) -> None:
        """The ciphertext against its address and, while the key exists, the plaintext
        against ``sha256``; an object the retention purge removed passes."""
        try:
            sealed = self._sealed_bytes(uri, sha256)
            if sealed is None:
                self.inner.verify(uri, sha256)
                return
        except ArtifactIntegrityError as exc:
            self._missing(uri, exc)
            return
        with suppress(CustomerErased):  # the ciphertext is intact, the plaintext gone
            self._open(uri, sha256, sealed)

    def exists(self, sha256: str) -> bool:
        return self.inner.exists(sha256)

    def info(self, sha256: str) -> ArtifactInfo:
        return self.inner.info(sha256)


def sealed(store: ArtifactStore, ledger: Ledger) -> SealedStore:
    """``store`` sealing customers' objects with the keys in ``ledger`` (as it is when
    already sealed)."""
    if isinstance(store, SealedStore):
        return store
    return SealedStore(store, Keyring(ledger))
