"""The keyring: each customer's AES-256 data key, kept in the ledger database wrapped
(AES-GCM) by the master key (:mod:`missiva.privacy.master_key`).

A customer has one live key at a time (the newest row of ``customer_keys``). Erasing the
customer drops the wrapped key: everything sealed under it becomes unreadable, wherever
the ciphertext lives (a write-once archive included). A customer whose newest key is
erased gets a new one only when the source system declares a new identity
(:meth:`Keyring.renew`).
"""

import base64
import os
import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from missiva.privacy import master_key
from missiva.privacy.models import CustomerKey
from missiva.records.artifacts import StoreError
from missiva.records.ledger import Ledger
from missiva.records.models import iso_utc, utc_now

_WRAP_AAD = b"missiva-customer-key/1\0"


class Withheld(StoreError):
    """An archived object that is, by design, no longer readable."""


class Purged(Withheld):
    """The object was removed when its retention period expired (a chained event says so)."""


class CustomerErased(Withheld):
    """The customer's data key was destroyed: what was sealed under it cannot be read."""

    def __init__(self, customer_id: str, at: datetime, by: str, reason: str) -> None:
        self.customer_id, self.at, self.by, self.reason = customer_id, at, by, reason
        super().__init__(f"erased on {at.date().isoformat()} by {by} ({reason})")

    @property
    def notice(self) -> dict[str, str]:
        return {"erased_at": iso_utc(self.at), "erased_by": self.by, "reason": self.reason}

    @classmethod
    def of(cls, row: CustomerKey) -> "CustomerErased":
        return cls(row.customer_id, row.erased_at, row.erased_by or "?", row.erase_reason or "")


class KeyUnwrapError(StoreError):
    """A wrapped data key does not open under the master key (wrong or rotated key)."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    customer_id: str
    key: bytes


def wrap(master: master_key.MasterKey, key_id: str, key: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(master.key).encrypt(nonce, key, _WRAP_AAD + key_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def unwrap(master: master_key.MasterKey, key_id: str, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return AESGCM(master.key).decrypt(raw[:12], raw[12:], _WRAP_AAD + key_id.encode())
    except InvalidTag:
        raise KeyUnwrapError(
            f"data key {key_id} does not open under master key {master.id} "
            "(a different master key wrapped it)"
        ) from None


class Keyring:
    """Customers' data keys in the ledger at hand (cached for the keyring's life)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._master: master_key.MasterKey | None = None
        self._by_id: dict[str, DataKey] = {}
        self._current: dict[str, DataKey] = {}

    @property
    def master(self) -> master_key.MasterKey:
        if self._master is None:
            self._master = master_key.resolve(str(self.ledger.engine.url))
        return self._master

    def _open(self, row: CustomerKey) -> DataKey:
        if row.wrapped is None:
            raise CustomerErased.of(row)
        key = DataKey(row.key_id, row.customer_id, unwrap(self.master, row.key_id, row.wrapped))
        self._by_id[row.key_id] = key
        return key

    def newest(self, customer_id: str) -> CustomerKey | None:
        with Session(self.ledger.engine) as session:
            return session.scalars(
                select(CustomerKey)
                .where(CustomerKey.customer_id == customer_id)
                .order_by(CustomerKey.created_at.desc(), CustomerKey.key_id)
                .limit(1)
            ).first()

    def erased(self, customer_id: str) -> CustomerErased | None:
        """Why ``customer_id`` may not be contacted (their newest key is erased), if so;
        a live key found is kept for :meth:`current`."""
        if customer_id in self._current:
            return None
        row = self.newest(customer_id)
        if row is None:
            return None
        if row.wrapped is None:
            return CustomerErased.of(row)
        self._current[customer_id] = self._open(row)
        return None

    def current(self, customer_id: str) -> DataKey:
        """The customer's live key, made on first use; :class:`CustomerErased` if erased."""
        if customer_id in self._current:
            return self._current[customer_id]
        row = self.newest(customer_id)
        if row is not None:
            key = self._open(row)
        else:
            with self.ledger.write() as session:  # re-checked under the chain's lock
                row = session.scalars(
                    select(CustomerKey).where(CustomerKey.customer_id == customer_id).limit(1)
                ).first()
                key = self._open(row or self._make(session, customer_id))
        self._current[customer_id] = key
        return key

    def renew(self, customer_id: str) -> DataKey:
        """A new key for a customer the source system declares a new identity."""
        with self.ledger.write() as session:
            key = self._open(self._make(session, customer_id))
        self._current[customer_id] = key
        return key

    def _make(self, session: Session, customer_id: str) -> CustomerKey:
        key_id = uuid.uuid4().hex
        row = CustomerKey(
            key_id=key_id,
            customer_id=customer_id,
            wrapped=wrap(self.master, key_id, AESGCM.generate_key(bit_length=256)),
            master_id=self.master.id,
            created_at=utc_now(),
        )
        session.add(row)
        session.flush()
        return row

    def by_id(self, key_id: str) -> DataKey:
        """The key ``key_id``; :class:`CustomerErased` once destroyed. Asks the ledger
        every time (an erasure by another process takes effect at once); only the
        unwrapped key is cached."""
        with Session(self.ledger.engine) as session:
            row = session.get(CustomerKey, key_id)
        if row is None:
            raise StoreError(f"no data key {key_id} in the ledger")
        if row.wrapped is not None and key_id in self._by_id:
            return self._by_id[key_id]
        return self._open(row)

    def destroy(self, session: Session, customer_id: str, by: str, reason: str) -> int:
        """Drop every key of the customer in ``session``; how many were live."""
        result = session.execute(
            update(CustomerKey)
            .where(CustomerKey.customer_id == customer_id, CustomerKey.wrapped.is_not(None))
            .values(wrapped=None, erased_at=utc_now(), erased_by=by, erase_reason=reason)
        )
        self._current.pop(customer_id, None)
        self._by_id = {k: v for k, v in self._by_id.items() if v.customer_id != customer_id}
        return result.rowcount


def rotate_master_key(ledger: Ledger, old: str, new: str) -> int:
    """Re-wrap every live data key wrapped by ``old`` under ``new``; how many."""
    before, after = master_key.MasterKey.of(old), master_key.MasterKey.of(new)
    count = 0
    with ledger.write() as session:
        rows = session.scalars(
            select(CustomerKey).where(
                CustomerKey.wrapped.is_not(None), CustomerKey.master_id == before.id
            )
        ).all()
        for row in rows:
            key = unwrap(before, row.key_id, row.wrapped)
            row.wrapped, row.master_id = wrap(after, row.key_id, key), after.id
            count += 1
    return count
