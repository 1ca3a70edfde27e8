"""Anchors: the chain's head kept outside the ledger, in write-once storage.

The chain alone cannot show that its newest events were cut off. After every journey
run (its report stage) and every ``audit verify``, :func:`write_anchor` records the head
(last event id, its keyed hash, the number of events, where keying starts), HMAC-signed
under the ledger key so an anchor cannot be forged without it:

- with the S3 archive, as one object per anchor under ``<prefix>/anchors/``, created
  with ``If-None-Match: *`` and the store's Object Lock retention (and legal hold): its
  version cannot be deleted while retained, and every version is read back, so neither
  a delete marker nor an overwrite hides it;
- with the local archive, as a line appended to ``<archive>/anchors/chain.jsonl``
  (opened ``O_APPEND``; make it append-only with ``chattr +a`` where it matters).

:func:`read_anchors` reads them back for :func:`missiva.records.audit.verify`, which
checks the ledger against every anchor and starts an incremental check at the newest
anchor written by a clean verify.
"""

from __future__ import annotations

import hmac
import json
import os
import uuid
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Protocol

from missiva.records.chain import Anchor, Head, chain_state
from missiva.records.models import canonical_json, utc_now

#: the kinds of anchor: after a journey run, after a verify that found the ledger intact
RUN, VERIFIED = "run", "verified"


class AnchorLog(Protocol):
    """Write-once storage of anchors: named entries, never rewritten."""

    def append(self, entry: bytes, name: str) -> None: ...

    def entries(self) -> list[tuple[str, bytes]]:
        """Every entry as (where it is, its bytes), oldest first."""
        ...


@dataclass(frozen=True)
class LocalAnchorLog:
    """A JSON-lines file, written by appends only."""

    path: Path

    def append(self, entry: bytes, name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, entry + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[tuple[str, bytes]]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [(f"{self.path.name}:{n}", line) for n, line in enumerate(lines, 1) if line]


@dataclass(frozen=True)
class S3AnchorLog:
    """One Object Lock object per anchor in the archive's bucket."""

    store: Any  # S3ArtifactStore (boto3 imported only for an S3 archive)

    @property
    def prefix(self) -> str:
        return "/".join(filter(None, [self.store.prefix, "anchors"])) + "/"

    def append(self, entry: bytes, name: str) -> None:
        from missiva.records.s3_errors import translated

        key = f"{self.prefix}{name}.json"
        with translated(f"s3://{self.store.bucket}/{key}"):
            self.store.client.put_object(
                Bucket=self.store.bucket,
                Key=key,
                Body=entry,
                ContentType="application/json",
                IfNoneMatch="*",
                **self.store.lock_parameters(),
            )

    def entries(self) -> list[tuple[str, bytes]]:
        """Every version of every anchor object: a delete marker hides an object from a
        plain listing, never a locked version from this one."""
        from missiva.records.s3_errors import translated

        client, bucket = self.store.client, self.store.bucket
        found = []
        with translated(f"s3://{bucket}/{self.prefix}"):
            pages = client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=self.prefix
            )
            versions = sorted(
                (v["Key"], v["VersionId"]) for page in pages for v in page.get("Versions", [])
            )
            for key, version in versions:
                body = client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
                with body:
                    found.append((key.rsplit("/", 1)[-1], body.read()))
        return found


def anchor_log(store: Any) -> AnchorLog:
    """Where ``store`` (an artifact store) keeps the ledger's anchors."""
    if hasattr(store, "lock_parameters"):
        return S3AnchorLog(store)
    return LocalAnchorLog(Path(store.root) / "anchors" / "chain.jsonl")


def _mac(key: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(key, canonical_json(fields).encode(), sha256).hexdigest()


def write_anchor(
    ledger: Any, store: Any, kind: str, by: str, head: Head | None = None
) -> Anchor | None:
    """Anchor ``head`` (default: the ledger's head now; ``None`` when the ledger is empty).

    ``kind``: :data:`RUN` or :data:`VERIFIED` (only for a head a verify found intact:
    the next incremental verify starts there); ``by``: who writes it (a DAG run, the
    CLI)."""
    head = head or ledger.head()
    if head is None:
        return None
    with ledger.engine.connect() as conn:
        keyed_from = chain_state(conn).keyed_from
    at = utc_now()
    fields = {
        "event_id": head.event_id,
        "hash": head.hash,
        "events": head.events,
        "keyed_from": keyed_from,
        "kind": kind,
        "by": by,
        "at": at.isoformat(),
    }
    name = f"{head.event_id:012d}-{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    entry = canonical_json(fields | {"mac": _mac(ledger.key, fields)}).encode()
    anchor_log(store).append(entry, name)
    return Anchor(head.event_id, head.hash, head.events, name, keyed_from, kind == VERIFIED)


def read_anchors(key: bytes, log: AnchorLog) -> tuple[list[Anchor], list[str]]:
    """The anchors signed with ``key``, and a problem for each entry that is not."""
    anchors, problems = [], []
    for name, raw in log.entries():
        try:
            fields = json.loads(raw)
            mac = fields.pop("mac")
            anchor = Anchor(
                int(fields["event_id"]),
                str(fields["hash"]),
                int(fields["events"]),
                f"{name} ({fields['by']}, {fields['at']})",
                int(fields["keyed_from"]),
                fields["kind"] == VERIFIED,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"anchor {name}: unreadable ({exc!r})")
            continue
        if not hmac.compare_digest(str(mac), _mac(key, fields)):
            problems.append(
                f"anchor {name}: its signature does not match the ledger key (forged, "
                "edited, or written under another key)"
            )
            continue
        anchors.append(anchor)
    return anchors, problems


def last_verified(anchors: list[Anchor]) -> Anchor | None:
    """The newest anchor a clean verify wrote: where an incremental verify starts."""
    verified = [a for a in anchors if a.verified]
    return max(verified, key=lambda a: (a.event_id, a.name)) if verified else None
