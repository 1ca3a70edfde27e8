"""Retention: how long each communication's archived objects are kept
(``include/retention.toml``), and the purge that removes what has expired.

The purge deletes an expired communication's objects where the store allows it (every
version of the key, on S3) and records each removal as a chained ``purged`` event, so
``audit verify`` knows the object is gone by design. A write-once archive refuses to
delete a locked object: once all of a customer's communications have expired, the
customer's key is destroyed (:func:`~missiva.privacy.erase.erase`), so whatever the
archive keeps can no longer be read. Customers under a legal hold are left whole.
"""

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from missiva.privacy.erase import erase
from missiva.privacy.models import LegalHold
from missiva.privacy.sealing import PURGED, SealedStore, address_of
from missiva.records.artifacts import object_key
from missiva.records.chain import append_event
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.store import LocalArtifactStore

PURGED_BY = "missiva privacy purge"
_PERIOD = re.compile(r"([1-9][0-9]*)([ymd])")
_DAYS = {"y": 365, "m": 30, "d": 1}


def period(text: str, where: str) -> timedelta:
    """``"10y"``, ``"6m"`` (30-day months) or ``"90d"`` as a duration."""
    match = _PERIOD.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"{where}: {text!r} is not a period such as 10y, 6m or 90d")
    return timedelta(days=int(match[1]) * _DAYS[match[2]])


@dataclass(frozen=True)
class Retention:
    default: timedelta
    communications: Mapping[str, timedelta]

    @classmethod
    def load(cls, path: Path) -> "Retention":
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        if "default" not in data:
            raise ValueError(f"{path}: a default retention period is required")
        listed = data.get("communications", {})
        return cls(
            period(data["default"], f"{path}: default"),
            {name: period(text, f"{path}: {name}") for name, text in listed.items()},
        )

    def kept_until(self, comm: Communication) -> datetime:
        since = comm.sent_at or comm.created_at
        return since + self.communications.get(comm.communication, self.default)


@dataclass
class Purge:
    """What a purge removed (or, dry, would remove)."""

    dry_run: bool
    expired: int = 0
    deleted: list[str] = field(default_factory=list)
    #: objects the store refused to delete (write-once): their customer's key decides
    locked: list[str] = field(default_factory=list)
    #: customers whose key was destroyed, all their communications having expired
    erased: list[str] = field(default_factory=list)
    held: set[str] = field(default_factory=set)

    def lines(self) -> list[str]:
        verb = "would be" if self.dry_run else "were"
        return [
            f"{self.expired} communication(s) past their retention",
            f"{len(self.deleted)} archived object(s) {verb} deleted",
            f"{len(self.locked)} object(s) locked by the archive (write-once) {verb} kept",
            f"{len(self.erased)} customer key(s) {verb} destroyed: {', '.join(self.erased)}",
            f"{len(self.held)} customer(s) under legal hold kept whole: "
            + ", ".join(sorted(self.held)),
        ]


def delete_object(store: SealedStore, uri: str) -> bool:
    """Remove the object at ``uri`` (all its versions on S3); False when the store
    refuses (an Object Lock retention or legal hold)."""
    inner, address = store.inner, address_of(uri)
    if isinstance(inner, LocalArtifactStore):
        path = inner.root / object_key(address)
        path.with_name(f"{address}.json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        return True
    key = inner.key_for(address)
    listing = inner.client.list_object_versions(Bucket=inner.bucket, Prefix=key)
    refused = False
    for version in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
        if version["Key"] != key:
            continue
        try:
            inner.client.delete_object(Bucket=inner.bucket, Key=key, VersionId=version["VersionId"])
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 403:
                raise
            refused = True
    return not refused


def purge(
    ledger: Ledger, store: SealedStore, retention_file: Path, now: datetime, *, dry_run: bool
) -> Purge:
    """Remove what outlived its retention at ``now`` (see the module)."""
    retention = Retention.load(retention_file)
    with Session(ledger.engine) as session:
        held = set(session.scalars(select(LegalHold.customer_id)))
    result = Purge(dry_run)
    comms = ledger.communications()
    expired = [c for c in comms if retention.kept_until(c) <= now]
    live = [c for c in comms if retention.kept_until(c) > now]
    result.expired = len(expired)
    kept = {u for c in live for u in (c.input_uri, c.artifact_uri) if u}
    for comm in expired:
        if comm.customer_id in held:
            result.held.add(comm.customer_id)
            continue
        uris = [u for u in (comm.input_uri, comm.artifact_uri) if u and u not in kept]
        uris = [u for u in dict.fromkeys(uris) if store.purged(u) is None]
        deleted = [u for u in uris if dry_run or delete_object(store, u)]
        result.deleted += deleted
        result.locked += [u for u in uris if u not in deleted]
        if deleted and not dry_run:
            with ledger.write() as session:
                append_event(
                    session,
                    ledger.key,
                    comm.communication_id,
                    PURGED,
                    deleted=deleted,
                    kept_until=retention.kept_until(comm).isoformat(),
                    by=PURGED_BY,
                )
    customers = {c.customer_id for c in expired if c.customer_id} - held
    customers -= {c.customer_id for c in live}
    for customer in sorted(customers):
        if store.keyring.erased(customer) is not None or store.keyring.newest(customer) is None:
            continue
        if not dry_run:
            erase(ledger, store, customer, PURGED_BY, "retention period expired")
        result.erased.append(customer)
    return result
