"""The two sides of a template proof: a version of a communication, as a library on disk.

A side is named ``working`` (the library as it is on disk), ``approved`` (the latest
approved version of the communication) or a version (``1.1.0``). Earlier versions come
from the git history of the library: the newest commit whose copy of the communication
has that version and, when the version was approved, exactly the approved content hash
(a version not committed yet: the working copy, if it holds it).
The whole library of that commit is extracted (layouts, blocks and regulatory clauses
as they were), so a version renders as it did.

Proof copies render regulatory blocks whose wording changed but is not approved yet
(:func:`stamp_pending_blocks`): a proof is how the change is reviewed before approval.
The copy is temporary; the library's registry is never touched.
"""

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from missiva.composition import library
from missiva.composition.errors import TemplateError

WORKING = "working"
APPROVED = "approved"
#: What a proof copy records as the approver of a block that is not approved yet.
PENDING = "(pending approval)"


@dataclass(frozen=True)
class Side:
    """One side of a proof: a library folder holding the communication at one version."""

    label: str  # as asked: working, approved or a version
    templates_dir: Path
    version: str
    sha256: str  # the communication folder's content hash
    source: str  # "working tree" or "git <commit>"
    approval: dict[str, Any] | None
    pending_blocks: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        approval = self.approval or {}
        return {
            "label": self.label,
            "version": self.version,
            "sha256": self.sha256,
            "source": self.source,
            "status": "approved" if self.approval else "draft",
            "approved_by": approval.get("approved_by"),
            "approved_at": approval.get("approved_at"),
            "pending_blocks": list(self.pending_blocks),
        }


@contextmanager
def open_side(templates_dir: Path, name: str, label: str) -> Iterator[Side]:
    """The library holding ``name`` at ``label``, in a temporary proof copy."""
    templates_dir = Path(templates_dir).resolve()
    records = library.read_approvals(templates_dir, name)
    with TemporaryDirectory(prefix="missiva-proof-") as tmp:
        copy = Path(tmp) / "templates"
        source = "working tree"
        if label != WORKING:
            version, sha256 = _wanted(templates_dir, name, label, records)
            try:
                source = f"git {_find_commit(templates_dir, name, version, sha256, copy)[:12]}"
            except TemplateError:
                if not _folder_holds(templates_dir, name, version, sha256):
                    raise
        if source == "working tree":
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(templates_dir, copy)
        snap = library.snapshot(copy, name)
        version = str(snap.json(library.META_FILE).get("version", ""))
        approval = library.matching_approval(records, version, snap.sha256)
        pending = stamp_pending_blocks(copy)
        yield Side(label, copy, version, snap.sha256, source, approval, pending)


def latest_approval(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recent approval record (records are appended in order)."""
    complete = [r for r in records if r.get("approved_by") and r.get("sha256")]
    return complete[-1] if complete else None


def _wanted(
    templates_dir: Path, name: str, label: str, records: list[dict[str, Any]]
) -> tuple[str, str | None]:
    """(version, approved content hash or None) that ``label`` names."""
    if label == APPROVED:
        record = latest_approval(records)
        if record is None:
            raise TemplateError(f"communication {name!r} has no approved version")
        return str(record["version"]), str(record["sha256"])
    approved = [r for r in records if str(r.get("version")) == label and r.get("sha256")]
    return label, (str(approved[-1]["sha256"]) if approved else None)


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, timeout=120)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise TemplateError(
            f"git {' '.join(args[:2])} in {cwd}: {detail.decode(errors='replace').strip() or exc}"
        ) from exc
    return done.stdout


def _find_commit(
    templates_dir: Path, name: str, version: str, sha256: str | None, into: Path
) -> str:
    """Extract into ``into`` the library of the newest commit holding the version; its id.

    Commits are searched newest first among those that touched the library, so a version
    comes with the latest layouts, styles and clauses committed alongside it.
    """
    top = Path(_git(templates_dir, "rev-parse", "--show-toplevel").decode().strip())
    prefix = templates_dir.relative_to(top.resolve()).as_posix()
    prefix = "" if prefix == "." else prefix
    folder = f"{prefix}/{library.COMMUNICATIONS}/{name}".lstrip("/")
    commits = _git(top, "log", "--format=%H", "--", prefix or ".").decode().split()
    holds: dict[str, bool] = {}  # the folder's git tree id -> holds the version
    for commit in commits:
        try:
            tree = _git(top, "rev-parse", "--verify", "--quiet", f"{commit}:{folder}").strip()
        except TemplateError:
            continue  # no such communication in that commit
        if tree not in holds:
            with TemporaryDirectory(prefix="missiva-proof-") as tmp:
                root = _extract(top, commit, folder, Path(tmp) / "extract") / prefix
                holds[tree] = _folder_holds(root, name, version, sha256)
        if holds[tree]:
            _extract(top, commit, prefix, into.parent / "extract")
            shutil.move(into.parent / "extract" / prefix, into)
            return commit
    wanted = f"version {version}" + (f" with content {sha256[:12]}" if sha256 else "")
    raise TemplateError(
        f"communication {name!r}: {wanted} is not in the git history of {folder} "
        f"({len(commits)} commits searched)"
    )


def _folder_holds(templates_dir: Path, name: str, version: str, sha256: str | None) -> bool:
    """Whether the library's folder of ``name`` holds ``version`` (with content ``sha256``)."""
    try:
        snap = library.snapshot(templates_dir, name)
        found = str(snap.json(library.META_FILE).get("version", ""))
    except TemplateError:
        return False
    return found == version and sha256 in (None, snap.sha256)


def _extract(top: Path, commit: str, path: str, into: Path) -> Path:
    """The files under ``path`` (repository-relative) at ``commit``, written below ``into``
    at their repository paths; ``into``."""
    data = _git(top, "archive", "--format=tar", commit, "--", path or ".")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def stamp_pending_blocks(templates_dir: Path) -> list[str]:
    """Let a proof copy render regulatory blocks whose files are not approved; their names.

    Each such block's registry entry gets its current file hashes and an approval by
    :data:`PENDING`, so the report shows the new wording, marked as not approved yet.
    """
    registry_path = Path(templates_dir) / library.REGISTRY_PATH
    data = library.read_registry_json(templates_dir)
    pending = [
        row["name"] for row in library.block_status(templates_dir) if row["status"] != "approved"
    ]
    for block in pending:
        entry = data["blocks"][block]
        entry["sha256"] = {
            file: hashlib.sha256(content).hexdigest()
            for file, content in library.block_files(templates_dir, block).items()
        }
        entry["approval"] = {"version": str(entry["version"]), "approved_by": PENDING}
        entry["approval"]["approved_at"] = PENDING
    if pending:
        registry_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return pending


def field_changes(old: Side, new: Side, name: str) -> dict[str, Any]:
    metas = [library.snapshot(s.templates_dir, name).json(library.META_FILE) for s in (old, new)]
    """Required fields added or removed, for every rendition (``all``) or one."""
    fields = [_required(meta) for meta in metas]
    keys = sorted(set(fields[0]) | set(fields[1]))
    changes = {
        key: {
            "added": sorted(set(fields[1].get(key, ())) - set(fields[0].get(key, ()))),
            "removed": sorted(set(fields[0].get(key, ())) - set(fields[1].get(key, ()))),
        }
        for key in keys
    }
    changes = {k: v for k, v in changes.items() if v["added"] or v["removed"]}
    return {"changed": bool(changes), "by_rendition": changes}


def _required(meta: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Required fields: ``all`` renditions, then per rendition."""
    fields = {"all": tuple(meta.get("required_fields", ()))}
    fields.update({k: tuple(v) for k, v in meta.get("rendition_required_fields", {}).items()})
    return fields


def draft_changes(templates_dir: Path, name: str) -> dict[str, Any]:
    """What the working copy of ``name`` changes since its latest approved version: the
    files of its folder and the required fields (``since`` None: never approved)."""
    if latest_approval(library.read_approvals(templates_dir, name)) is None:
        return {"since": None, "files": [], "required_fields": {"changed": False}}
    with (
        open_side(templates_dir, name, APPROVED) as old,
        open_side(templates_dir, name, WORKING) as new,
    ):
        files = [library.snapshot(side.templates_dir, name).files for side in (old, new)]
        paths = sorted(set(files[0]) | set(files[1]))
        return {
            "since": old.version,
            "files": [path for path in paths if files[0].get(path) != files[1].get(path)],
            "required_fields": field_changes(old, new, name),
        }
