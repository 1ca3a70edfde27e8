"""Print batch manifests and portal indexes, chained in the ledger and re-hashed by verify.

They are working files (in the print and portal workspaces, rewritten as the day goes
on), not archived objects, so their SHA-256 enters the ledger's chain when they are
written, and :func:`problems` checks them against it:

- a print batch: one ``print_batch`` event (about the batch's first letter) records the
  manifest's key in the print workspace and its hash; the manifest must still hash to
  it, and the batch PDF to the hash the manifest gives;
- a portal index: each portal delivery's ``sent`` event records the customer's index key,
  the revision it wrote (or found) and that revision's hash. Writes of one index are
  serialised by its lock, so the highest recorded revision is the index's last: the
  index must be that revision and hash to what was recorded for it.

A manifest or index that no event names (written before these were recorded) is
reported apart as unrecorded, not as a problem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from missiva.records.workspace import Workspace

if TYPE_CHECKING:
    from missiva.records.ledger import Ledger

#: the event recording a print batch's manifest
PRINT_BATCH = "print_batch"
MANIFEST_SUFFIX = ".manifest.json"
INDEX_SUFFIX = ".json"
#: the keys of a portal delivery's ``sent`` event that name the index it wrote
INDEX_NOTE = ("portal_index", "portal_index_revision", "portal_index_sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def index_note(key: str, revision: int, data: bytes) -> dict[str, Any]:
    """What a portal delivery's ``sent`` event records about the index it left."""
    return dict(zip(INDEX_NOTE, (key, revision, _sha256(data)), strict=True))


def record_batches(ledger: Ledger, space: Workspace, folder: str) -> int:
    """Chain a ``print_batch`` event for every manifest under ``folder`` of the print
    workspace ``space`` that none records yet (the batches just written, or ones a
    crash left unrecorded); how many were recorded."""
    recorded = {d["manifest"] for _, d in _details(ledger, [PRINT_BATCH])}
    count = 0
    for name in space.sub(folder).list_keys():
        key = f"{folder}/{name}"
        if not key.endswith(MANIFEST_SUFFIX) or key in recorded:
            continue
        data = space.get(key)
        first = json.loads(data)["envelopes"][0]["communication_ids"][0]
        ledger.record_file(first, PRINT_BATCH, manifest=key, manifest_sha256=_sha256(data))
        count += 1
    return count


@dataclass
class FileCheck:
    """What :func:`problems` checked and found."""

    problems: list[str] = field(default_factory=list)
    manifests: int = 0
    indexes: int = 0
    unrecorded: list[str] = field(default_factory=list)


def problems(
    ledger: Ledger, print_space: Workspace, portal_space: Workspace, *, after: int | None
) -> FileCheck:
    """Re-hash the manifests and indexes the ledger recorded (those recorded after event
    ``after`` only, for an incremental check; on a full check, also list the ones never
    recorded)."""
    found = FileCheck()
    manifests: dict[str, tuple[int, dict]] = {}
    indexes: dict[str, tuple[int, dict]] = {}
    for event_id, detail in _details(ledger, [PRINT_BATCH, "sent"], after=after):
        if "manifest" in detail:
            manifests[detail["manifest"]] = (event_id, detail)
        elif "portal_index" in detail:
            key = detail["portal_index"]
            if key not in indexes or detail["portal_index_revision"] >= _revision(indexes[key]):
                indexes[key] = (event_id, detail)
    for key, (event_id, detail) in sorted(manifests.items()):
        found.problems += _manifest_problems(print_space, key, event_id, detail)
    for key, (event_id, detail) in sorted(indexes.items()):
        found.problems += _index_problems(portal_space, key, event_id, detail)
    found.manifests, found.indexes = len(manifests), len(indexes)
    if after is None:
        found.unrecorded = [
            f"print manifest {print_space.location(k)}"
            for k in print_space.list_keys()
            if k.endswith(MANIFEST_SUFFIX) and k not in manifests
        ] + [
            f"portal index {portal_space.location(k)}"
            for k in portal_space.list_keys()
            if k.endswith(INDEX_SUFFIX) and k not in indexes
        ]
    return found


def holding(
    ledger: Ledger, comm: Any, print_space: Workspace, portal_space: Workspace
) -> tuple[str, list[str]] | None:
    """The recorded print manifest or portal index holding the communication ``comm``
    (a letter, a portal document) and its problems; ``None`` when none was recorded."""
    if comm.channel == "portal":
        events = ledger.events_of(["sent"], containing=comm.communication_id)
        notes = [(e.event_id, d) for e in events if "portal_index" in (d := json.loads(e.detail))]
        if not notes:
            return None
        key = notes[-1][1]["portal_index"]
        recorded = _details(ledger, ["sent"], containing=json.dumps(key))
        latest = max((r for r in recorded if r[1].get("portal_index") == key), key=_revision)
        return f"portal index {key}", _index_problems(portal_space, key, *latest)
    folder = f"{comm.dag_id}/{comm.business_key}/batches/"
    manifests = {
        d["manifest"]: (i, d) for i, d in _details(ledger, [PRINT_BATCH], containing=folder)
    }
    for key, (event_id, detail) in sorted(manifests.items()):
        try:
            envelopes = json.loads(print_space.get(key))["envelopes"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            envelopes = []  # unreadable: its own problem, found by audit verify
        if any(comm.communication_id in e.get("communication_ids", ()) for e in envelopes):
            return f"print manifest {key}", _manifest_problems(print_space, key, event_id, detail)
    return None


def _revision(recorded: tuple[int, dict]) -> int:
    return recorded[1]["portal_index_revision"]


def _details(ledger: Ledger, kinds: Iterable[str], **where: Any) -> list[tuple[int, dict]]:
    return [(e.event_id, json.loads(e.detail)) for e in ledger.events_of(kinds, **where)]


def _read(space: Workspace, key: str, what: str, event_id: int) -> tuple[bytes | None, list[str]]:
    try:
        return space.get(key), []
    except FileNotFoundError:
        return None, [f"{what} {space.location(key)}: missing (recorded in event {event_id})"]


def _manifest_problems(space: Workspace, key: str, event_id: int, detail: dict) -> list[str]:
    what = "print manifest"
    data, missing = _read(space, key, what, event_id)
    if data is None:
        return missing
    if _sha256(data) != detail["manifest_sha256"]:
        return [
            f"{what} {space.location(key)}: differs from the sha256 recorded in event "
            f"{event_id} (the manifest was edited or replaced)"
        ]
    pdf = json.loads(data)["pdf"]
    pdf_key = "/".join([*key.split("/")[:-1], pdf["file"]])
    pdf_data, missing = _read(space, pdf_key, "print batch", event_id)
    if pdf_data is None:
        return missing
    if _sha256(pdf_data) != pdf["sha256"]:
        return [f"print batch {space.location(pdf_key)}: differs from the sha256 of its manifest"]
    return []


def _index_problems(space: Workspace, key: str, event_id: int, detail: dict) -> list[str]:
    what = "portal index"
    data, missing = _read(space, key, what, event_id)
    if data is None:
        return missing
    revision = detail["portal_index_revision"]
    try:
        current = json.loads(data).get("revision", 0)
    except (ValueError, AttributeError):
        current = None
    if current != revision or _sha256(data) != detail["portal_index_sha256"]:
        return [
            f"{what} {space.location(key)}: differs from revision {revision} recorded in "
            f"event {event_id} (the index was edited or replaced)"
        ]
    return []
