"""Auditor tools: show, verify, evidence packs and re-rendering, over ledger and archive
(and, for verify, the print manifests and portal indexes the ledger chained)."""

import difflib
import email
import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from missiva.channels import registry
from missiva.composition.errors import TemplateError
from missiva.privacy.keys import CustomerErased, Withheld
from missiva.privacy.sealing import sealed
from missiva.records import work_files
from missiva.records.anchors import VERIFIED, anchor_log, last_verified, read_anchors, write_anchor
from missiva.records.chain import Anchor, Head
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.store import ArtifactStore, StoreError
from missiva.records.work_files import FileCheck
from missiva.records.workspace import workspace
from missiva.settings import Settings


class AuditError(Exception):
    """An auditor request that cannot be answered (unknown id, missing run, ...)."""


def _communication(ledger: Ledger, communication_id: str) -> Communication:
    comm = ledger.get(communication_id)
    if comm is None:
        raise AuditError(f"no communication {communication_id!r} in the ledger")
    return comm


def _events(ledger: Ledger, communication_id: str) -> list[dict[str, Any]]:
    return [
        {"event_id": e.event_id, "kind": e.kind, "at": e.at.isoformat(), "hash": e.hash}
        | {"detail": json.loads(e.detail)}
        for e in ledger.events(communication_id)
    ]


def show(
    ledger: Ledger, communication_id: str, templates_dir: Path | None = None
) -> dict[str, Any]:
    """One communication with its clauses, consent state and event history; given the
    template library, also its template version's approval (:func:`template_approval`)."""
    comm = _communication(ledger, communication_id)
    shown = comm.as_dict() | {
        "blocks": ledger.blocks(communication_id),
        "consent_state": comm.consent,
        "events": _events(ledger, communication_id),
    }
    if templates_dir is not None:
        shown["template_approval"] = template_approval(templates_dir, comm)
    return shown


def template_approval(templates_dir: Path, comm: Communication) -> dict[str, Any] | None:
    """The approval on record for the template version ``comm`` went out under: who, when,
    the content's SHA-256 and the reviewed diff report's (``report_sha256``, None when it
    was approved without one); None when no approval is on record or it had no template;
    ``{"problem": ...}`` when the library's approvals cannot be read."""
    from missiva.records.template_versions import approval_of

    if not comm.template or not comm.template_version:
        return None
    try:
        return approval_of(templates_dir, comm.template, comm.template_version)
    except TemplateError as exc:
        return {"problem": str(exc)}


@dataclass(frozen=True)
class Verification:
    """What ``verify`` checked and found."""

    problems: list[str]
    #: the verified head it started from (``None``: a full check)
    since: Head | None
    anchors: int
    communications: int
    #: the anchor written because the ledger was found intact (``None``: not written)
    anchored: Anchor | None = None
    #: print manifests and portal indexes re-hashed, and those no event records
    files: FileCheck = field(default_factory=FileCheck)

    @property
    def scope(self) -> str:
        if self.since is None:
            return "full"
        return f"incremental from event {self.since.event_id}"

    @property
    def checked(self) -> str:
        """What was checked, in one line."""
        unrecorded = f", {n} unrecorded" if (n := len(self.files.unrecorded)) else ""
        return (
            f"{self.scope}: {self.communications} communications, {self.anchors} anchors, "
            f"{self.files.manifests} print manifests, {self.files.indexes} portal "
            f"indexes{unrecorded}"
        )


def verify(
    ledger: Ledger,
    store: ArtifactStore,
    *,
    full: bool = True,
    by: str | None = None,
    settings: Settings | None = None,
) -> Verification:
    """Check the ledger against every anchor, its keyed chain and row digests, each
    archived object's hash and (given ``settings``, where the print and portal
    workspaces are) the print manifests and portal indexes the ledger recorded
    (:mod:`~missiva.records.work_files`).

    ``full=False`` starts at the newest anchor a clean verify wrote (the chain from that
    head, the rows and objects of the communications touched since; a full check when
    there is none). ``by``: when the ledger is intact, anchor its head as verified,
    naming who checked it (:func:`~missiva.records.anchors.write_anchor`)."""
    head = ledger.head()
    store = sealed(store, ledger)  # sealed objects: ciphertext and, while keyed, plaintext
    anchors, problems = read_anchors(ledger.key, anchor_log(store))
    since = None if full else last_verified(anchors)
    problems += ledger.verify_chain(anchors=anchors, since=since)
    comms = ledger.communications() if since is None else ledger.touched_since(since.event_id)
    for comm in comms:
        problems += _object_problems(store, comm)
    files = FileCheck()
    if settings is not None:
        print_space = workspace(store, settings.print_dir, "print")
        portal_space = workspace(store, settings.portal_dir, "portal")
        after = since.event_id if since is not None else None
        files = work_files.problems(ledger, print_space, portal_space, after=after)
        problems += files.problems
    anchored = None
    if by is not None and not problems and head is not None:
        anchored = write_anchor(ledger, store, VERIFIED, by, head)
    return Verification(problems, since, len(anchors), len(comms), anchored, files)


def _object_problems(store: ArtifactStore, comm: Communication) -> list[str]:
    """The input record and the artifact of ``comm``, re-hashed."""
    problems = []
    objects = [("input", comm.input_uri, comm.data_sha256)]
    objects.append(("artifact", comm.artifact_uri, comm.artifact_sha256))
    for label, uri, digest in objects:
        if not uri:
            if label == "input":
                problems.append(f"communication {comm.communication_id}: no input record")
            continue
        try:
            store.verify(uri, digest)
        except StoreError as exc:
            problems.append(f"communication {comm.communication_id}: {label} {exc}")
    return problems


def _artifact_files(comm: Communication, data: bytes) -> dict[str, bytes]:
    extension = registry.get(comm.channel).extension
    if comm.channel != "email":
        return {f"artifact{extension}": data}
    files = {f"message{extension}": data}
    message = email.message_from_bytes(data, policy=default_policy)
    for part in message.iter_attachments():
        files[f"attachment-{part.get_filename()}"] = part.get_content()
    return files


def evidence(ledger: Ledger, store: ArtifactStore, customer_id: str) -> bytes:
    """A ZIP of everything about one customer, with a manifest of SHA-256 per file; for
    an erased customer the ledger's (pseudonymised) rows and the erasure, since the
    archived objects no longer open."""
    comms = ledger.trace(customer_id)
    if not comms:
        raise AuditError(f"no communication for customer {customer_id!r} in the ledger")
    store = sealed(store, ledger)
    files: dict[str, bytes] = {}
    erased: CustomerErased | None = None
    withheld: dict[str, str] = {}
    for comm in comms:
        folder = comm.communication_id
        record = show(ledger, comm.communication_id)
        files[f"{folder}/communication.json"] = json.dumps(record, indent=2).encode()
        try:
            if comm.input_uri:
                files[f"{folder}/input.json"] = store.get(comm.input_uri, comm.data_sha256)
            if comm.artifact_uri:
                data = store.get(comm.artifact_uri, comm.artifact_sha256)
                for name, content in _artifact_files(comm, data).items():
                    files[f"{folder}/{name}"] = content
        except Withheld as exc:
            withheld[folder] = str(exc)
            erased = exc if isinstance(exc, CustomerErased) else erased
    manifest = {
        "customer_id": customer_id,
        "erasure": erased.notice if erased else None,
        "withheld": withheld,
        "communications": [c.communication_id for c in comms],
        "ledger_head": asdict(head) if (head := ledger.head()) else None,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return buffer.getvalue()


@dataclass(frozen=True)
class Rerendering:
    identical: bool
    archived_sha256: str
    rerendered_sha256: str
    differences: list[str]


def _text_of(comm: Communication, data: bytes) -> list[str]:
    """A comparable text view: e-mail headers and parts, or the PDF's text."""
    from pypdf import PdfReader

    lines = []
    for name, content in _artifact_files(comm, data).items():
        if name.endswith(".pdf"):
            reader = PdfReader(io.BytesIO(content))
            lines += [
                f"{name}: {line}" for p in reader.pages for line in p.extract_text().split("\n")
            ]
            lines += [f"{name} metadata: {k}={v}" for k, v in (reader.metadata or {}).items()]
        else:
            lines += [f"{name}: {line}" for line in content.decode(errors="replace").splitlines()]
    return lines


def rerender(ledger: Ledger, settings: Settings, communication_id: str) -> Rerendering:
    """Render the communication again from its recorded inputs and compare with the archive."""
    from missiva.composition import Composer
    from missiva.flow import Composition
    from missiva.journeys import JOURNEYS
    from missiva.records.store import open_store
    from missiva.routing.rules import Route
    from missiva.run_context import RunContext

    comm = _communication(ledger, communication_id)
    if not comm.artifact_uri:
        raise AuditError(f"communication {communication_id} has no artifact ({comm.status})")
    current = Composer().template_version(comm.template)
    if current != comm.template_version:
        raise AuditError(
            f"{comm.template} is at version {current}, the communication used "
            f"{comm.template_version}: check out that version of the templates to re-render"
        )
    run = ledger.get_run(comm.dag_id, comm.run_id)
    if run is None:
        raise AuditError(f"run {comm.run_id} of {comm.dag_id} is not in the ledger")
    store = sealed(open_store(settings.archive_url), ledger)
    try:
        record = json.loads(store.get(comm.input_uri, comm.data_sha256))
    except CustomerErased as exc:
        raise AuditError(
            f"communication {communication_id} cannot be re-rendered: customer {exc}"
        ) from exc
    journey = next(j for j in JOURNEYS if j.name == comm.journey)
    context = RunContext(
        comm.dag_id,
        comm.run_id,
        comm.task_id,
        comm.try_number,
        run.interval_start,
        run.interval_end,
    )
    route = Route(comm.channel, comm.recipient, comm.route_reason or "")
    data = Composition(journey, context, settings).artifact(record, comm.communication_id, route)[0]
    archived = store.get(comm.artifact_uri, comm.artifact_sha256)
    digest = hashlib.sha256(data).hexdigest()
    differences = []
    if digest != comm.artifact_sha256:
        diff = difflib.unified_diff(
            _text_of(comm, archived), _text_of(comm, data), "archived", "re-rendered", lineterm=""
        )
        differences = list(diff) or ["the bytes differ but their text and metadata are the same"]
    return Rerendering(digest == comm.artifact_sha256, comm.artifact_sha256, digest, differences)
