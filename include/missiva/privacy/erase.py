"""Erasure by crypto-shredding: a customer's data key is destroyed, the personal fields
of their ledger rows become keyed pseudonyms, and every change is a chained event.

What stays: every hash (input record, artifact), status, date, channel, template and
clause version, so ``audit verify`` still passes and an auditor still sees *that* a
communication was sent, when and how, but no longer *to whom* nor what it said: the
archived objects remain (a write-once archive cannot delete them) as ciphertext no key
opens. Communications not yet sent are suppressed; the customer is never contacted
again, unless the source system declares a new identity (:data:`NEW_IDENTITY_FIELD`).
A customer under a legal hold cannot be erased (:class:`ErasureRefused`).
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from missiva.privacy.holds import held
from missiva.privacy.keys import Keyring, Withheld
from missiva.privacy.sealing import SealedStore
from missiva.records.chain import append_event
from missiva.records.ledger import Ledger
from missiva.records.models import Communication, Event, iso_utc, utc_now
from missiva.records.status import COMPOSED, DEFERRED, SUPPRESSED

ERASED = "erased"
#: a source record with this field true is a new identity of an erased customer
NEW_IDENTITY_FIELD = "new_identity"
#: input-record fields whose values are personal (replaced wherever a reason repeats them)
PERSONAL_FIELD = re.compile(
    r"name|mail|phone|mobile|address|street|city|post|zip|iban|birth|account", re.I
)
#: ledger columns that may carry personal data
PERSONAL_COLUMNS = ("recipient", "reason", "route_reason")
_MIN_VALUE = 3  # shorter values are not searched for in reasons (too many false matches)


class ErasureRefused(Exception):
    """An erasure that may not be done (a legal hold stands)."""


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    communications: int
    suppressed: int
    keys_destroyed: int
    erased_at: str
    by: str


def pseudonym(ledger_key: bytes, customer_id: str, value: str) -> str:
    """A keyed pseudonym: equal values of one customer stay equal; not reversible
    without the ledger key."""
    mac = hmac.new(ledger_key, f"pseudonym\0{customer_id}\0{value}".encode(), hashlib.sha256)
    return f"erased-{mac.hexdigest()[:16]}"


def erased_suppression(
    keyring: Keyring, record: dict[str, Any]
) -> tuple[dict[str, Any], str] | None:
    """For the record of an erased customer: what of it is archived (its ids only) and
    the suppression reason; ``None`` to compose it (a live or new customer, or a new
    identity the source declares, which gets a new key)."""
    customer = record.get("customer_id")
    if not customer:
        return None
    erased = keyring.erased(str(customer))
    if erased is None:
        return None
    if record.get(NEW_IDENTITY_FIELD) in (True, 1, "1", "true", "yes"):
        keyring.renew(str(customer))
        return None
    withheld = {"customer_id": customer, "row_id": record.get("row_id"), "withheld": ERASED}
    return withheld, f"customer {erased}: not contacted again"


def _personal_values(store: SealedStore, comms: list[Communication]) -> set[str]:
    """Recipients and personal fields of the customer's input records (read while the
    key still exists)."""
    values = {c.recipient for c in comms if c.recipient}
    for comm in comms:
        if not comm.input_uri:
            continue
        try:
            record = json.loads(store.get(comm.input_uri, comm.data_sha256))
        except Withheld:  # erased or purged before
            continue
        values |= {
            str(v)
            for k, v in record.items()
            if PERSONAL_FIELD.search(k)
            and isinstance(v, str | int)
            and not isinstance(v, bool)
            and str(v).strip()
        }
    return {v for v in values if len(v) >= _MIN_VALUE and not v.startswith("erased-")}


def _redacted(
    comm: Communication, values: set[str], key: bytes, customer_id: str
) -> dict[str, Any]:
    """The personal columns of ``comm`` that change, with their pseudonymised values."""
    changes = {}
    for column in PERSONAL_COLUMNS:
        text = getattr(comm, column)
        if not text:
            continue
        new = text
        for value in sorted(values, key=len, reverse=True):
            new = new.replace(value, pseudonym(key, customer_id, value))
        if new != text:
            changes[column] = new
    return changes


def erase(ledger: Ledger, store: SealedStore, customer_id: str, by: str, reason: str) -> Erasure:
    """Erase ``customer_id`` (see the module); idempotent. :class:`ErasureRefused` under a
    legal hold."""
    if not by.strip() or not reason.strip():
        raise ErasureRefused("an erasure names who asked for it and why (--by, --reason)")
    hold = held(ledger, customer_id)
    if hold is not None:
        raise ErasureRefused(
            f"customer {customer_id} is under legal hold since {hold.placed_at.date()} "
            f"(placed by {hold.placed_by}: {hold.reason}); erasure refused"
        )
    comms = ledger.trace(customer_id)
    values = _personal_values(store, comms)
    at = utc_now()
    note = f"customer erased on {at.date().isoformat()} by {by} ({reason})"
    suppressed = 0
    with ledger.write() as session:
        before = set(
            session.scalars(
                select(Event.communication_id).where(
                    Event.kind == ERASED,
                    Event.communication_id.in_([c.communication_id for c in comms]),
                )
            )
        )
        for comm in comms:
            if comm.communication_id in before:
                continue  # erased before (a new identity's rows are not)
            changes = _redacted(comm, values, ledger.key, customer_id)
            redacted = sorted(changes)
            kept = changes.get("reason", comm.reason)
            changes["reason"] = f"{kept}; {note}" if kept else note
            if comm.status in (COMPOSED, DEFERRED):
                changes |= {"status": SUPPRESSED, "reason": f"{note}: not sent"}
                suppressed += 1
            session.execute(
                update(Communication)
                .where(Communication.communication_id == comm.communication_id)
                .values(updated_at=at, **changes)
            )
            append_event(
                session,
                ledger.key,
                comm.communication_id,
                ERASED,
                by=by,
                reason=reason,
                redacted=redacted,
                status=changes.get("status", comm.status),
            )
        destroyed = store.keyring.destroy(session, customer_id, by, reason)
    return Erasure(customer_id, len(comms), suppressed, destroyed, iso_utc(at), by)
