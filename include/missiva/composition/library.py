"""The template library on disk: communications, their approvals, the regulatory registry.

- A communication is the folder ``communications/<name>/``. Its content hash is the
  SHA-256 of the lines ``<sha256 of file>  <relative path>\\n`` of every file in the
  folder except ``approvals.json``, sorted by path (``sha256sum`` style), so any change
  to a template, the metadata or the sample data makes it a draft again.
- ``communications/<name>/approvals.json`` is a list of
  ``{version, sha256, approved_by, approved_at}`` (plus ``report_sha256``,
  ``reviewed_from`` and ``reviewed_changed`` when the approval was given on a diff
  report); the communication is *approved* iff one record matches its current
  ``meta.json`` version and content hash.
- ``regulatory/registry.json`` locks each regulatory block: ``{"blocks": {name: {owner,
  version, sha256: {file: hash}, approval: {version, approved_by, approved_at},
  history: [...]}}}``. A block's files are ``regulatory/<name>.<ext>``.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from missiva.composition.errors import RegulatoryBlockError, TemplateError

COMMUNICATIONS = "communications"
META_FILE = "meta.json"
APPROVALS_FILE = "approvals.json"
SAMPLE_FILE = "sample.json"
REGULATORY = "regulatory"
REGISTRY_FILE = "registry.json"
REGISTRY_PATH = f"{REGULATORY}/{REGISTRY_FILE}"

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


# -- communications -----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The bytes of a communication folder as read once (what is hashed is what renders)."""

    name: str
    files: Mapping[str, bytes]  # relative posix path -> content, approvals.json excluded
    sha256: str

    def json(self, relative: str) -> Any:
        """A JSON file of the folder, parsed (TemplateError naming it otherwise)."""
        source = f"{COMMUNICATIONS}/{self.name}/{relative}"
        if relative not in self.files:
            raise TemplateError(f"{source}: not found")
        try:
            return json.loads(self.files[relative].decode("utf-8"))
        except ValueError as exc:
            raise TemplateError(f"{source}: cannot be read: {exc}") from exc


def content_hash(files: Mapping[str, bytes]) -> str:
    """SHA-256 over ``<sha256>  <path>`` lines of ``files``, sorted by path."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{hashlib.sha256(files[path]).hexdigest()}  {path}\n".encode())
    return digest.hexdigest()


def check_name(name: str, what: str = "communication") -> str:
    """``name`` if it is a valid library name (no paths), else TemplateError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise TemplateError(f"invalid {what} name {name!r}")
    return name


def communication_dir(templates_dir: Path, name: str) -> Path:
    return Path(templates_dir) / COMMUNICATIONS / check_name(name)


def communication_names(templates_dir: Path) -> list[str]:
    """Names of the communications of the library (folders with a ``meta.json``)."""
    root = Path(templates_dir) / COMMUNICATIONS
    if not root.is_dir():
        return []
    return sorted(
        path.name
        for path in root.iterdir()
        if NAME_RE.fullmatch(path.name) and (path / META_FILE).is_file()
    )


def snapshot(templates_dir: Path, name: str) -> Snapshot:
    """Read every file of a communication folder (except ``approvals.json``) and hash them."""
    folder = communication_dir(templates_dir, name)
    if not (folder / META_FILE).is_file():
        raise TemplateError(f"{COMMUNICATIONS}/{name}/{META_FILE}: unknown communication")
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != APPROVALS_FILE and "__pycache__" not in relative:
            files[relative] = path.read_bytes()
    return Snapshot(name, files, content_hash(files))


def read_approvals(templates_dir: Path, name: str) -> list[dict[str, str]]:
    """The approval records of a communication (empty when it has none)."""
    path = communication_dir(templates_dir, name) / APPROVALS_FILE
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TemplateError(f"{COMMUNICATIONS}/{name}/{APPROVALS_FILE}: {exc}") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TemplateError(f"{COMMUNICATIONS}/{name}/{APPROVALS_FILE}: not a list of records")
    return records


def matching_approval(
    records: list[dict[str, str]], version: str, sha256: str
) -> dict[str, str] | None:
    """The latest record approving exactly ``version`` with content ``sha256``."""
    for record in reversed(records):
        if (
            str(record.get("version")) == version
            and record.get("sha256") == sha256
            and record.get("approved_by")
            and record.get("approved_at")
        ):
            return record
    return None


def template_status(templates_dir: Path, name: str) -> dict[str, Any]:
    """name, version, status, renditions, languages, sha256 (+ approval when approved)."""
    snap = snapshot(templates_dir, name)
    meta = snap.json(META_FILE)
    if not isinstance(meta, dict):
        raise TemplateError(f"{COMMUNICATIONS}/{name}/{META_FILE}: not an object")
    version = str(meta.get("version", ""))
    record = matching_approval(read_approvals(templates_dir, name), version, snap.sha256)
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "status": "approved" if record else "draft",
        "renditions": list(meta.get("renditions", [])),
        "languages": sorted(meta.get("subject", {})),
        "description": meta.get("description", ""),
        "sha256": snap.sha256,
    }
    if record:
        info["approved_by"] = record["approved_by"]
        info["approved_at"] = record["approved_at"]
        if record.get("report_sha256"):
            info["report_sha256"] = record["report_sha256"]
    return info


def list_templates(templates_dir: Path) -> list[dict[str, Any]]:
    """Every communication of the library with its version and approval status."""
    return [template_status(templates_dir, name) for name in communication_names(templates_dir)]


# -- regulatory blocks --------------------------------------------------------------------


@dataclass(frozen=True)
class RegulatoryBlock:
    """One locked block of the registry."""

    name: str
    owner: str
    version: str
    sha256: Mapping[str, str]  # file name (in regulatory/) -> approved hash
    approved_by: str | None
    approved_at: str | None
    approved_version: str | None

    @property
    def approved(self) -> bool:
        return bool(self.approved_by and self.approved_at) and self.approved_version == (
            self.version
        )


def block_of(filename: str) -> str:
    """Block name of a file in ``regulatory/``: ``privacy_notice.html`` -> ``privacy_notice``."""
    return filename.split(".", 1)[0]


def read_registry_json(templates_dir: Path) -> dict[str, Any]:
    path = Path(templates_dir) / REGISTRY_PATH
    if not path.is_file():
        return {"blocks": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RegulatoryBlockError(f"{REGISTRY_PATH}: cannot be read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), dict):
        raise RegulatoryBlockError(f"{REGISTRY_PATH}: expected an object with 'blocks'")
    return data


def read_registry(templates_dir: Path) -> dict[str, RegulatoryBlock]:
    """The regulatory registry (empty if there is none: every block is then refused)."""
    blocks = {}
    for name, entry in read_registry_json(templates_dir)["blocks"].items():
        try:
            approval = entry.get("approval") or {}
            blocks[name] = RegulatoryBlock(
                name=name,
                owner=str(entry["owner"]),
                version=str(entry["version"]),
                sha256=dict(entry.get("sha256") or {}),
                approved_by=approval.get("approved_by"),
                approved_at=approval.get("approved_at"),
                approved_version=(str(approval["version"]) if "version" in approval else None),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise RegulatoryBlockError(
                f"{REGISTRY_PATH}: block {name!r} is invalid (missing {exc})"
            ) from exc
    return blocks


def verify_block_file(
    registry: Mapping[str, RegulatoryBlock], filename: str, data: bytes
) -> RegulatoryBlock:
    """The block of ``regulatory/<filename>`` if ``data`` is its approved content.

    Raises :class:`RegulatoryBlockError` naming the block otherwise.
    """
    name = block_of(filename)
    block = registry.get(name)
    if block is None:
        raise RegulatoryBlockError(f"regulatory block {name!r} is not in {REGISTRY_PATH}")
    label = f"regulatory block {name!r} (version {block.version})"
    if not block.approved:
        raise RegulatoryBlockError(f"{label} is not approved")
    expected = block.sha256.get(filename)
    if expected is None:
        raise RegulatoryBlockError(f"{label} has no approved hash for {filename!r}")
    if hashlib.sha256(data).hexdigest() != expected:
        raise RegulatoryBlockError(
            f"{label} does not match its approved hash ({REGULATORY}/{filename})"
        )
    return block


def block_files(templates_dir: Path, name: str) -> dict[str, bytes]:
    """The files ``regulatory/<name>.*`` of a block, by file name."""
    folder = Path(templates_dir) / REGULATORY
    if not folder.is_dir():
        return {}
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != REGISTRY_FILE and block_of(path.name) == name
    }


def block_status(templates_dir: Path) -> list[dict[str, Any]]:
    """Every registry block: name, owner, version, status (approved/modified/unapproved)."""
    rows = []
    for name, block in sorted(read_registry(templates_dir).items()):
        files = block_files(templates_dir, name)
        current = {file: hashlib.sha256(data).hexdigest() for file, data in files.items()}
        if not block.approved:
            status = "unapproved"
        elif current != dict(block.sha256):
            status = "modified"
        else:
            status = "approved"
        row: dict[str, Any] = {
            "name": name,
            "owner": block.owner,
            "version": block.version,
            "status": status,
            "files": sorted(files),
        }
        if block.approved_by:
            row["approved_by"] = block.approved_by
            row["approved_at"] = block.approved_at
            row["approved_version"] = block.approved_version
        rows.append(row)
    return rows
