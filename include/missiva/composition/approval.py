"""Signing off the template library: approval records for communications and blocks.

Approving writes ``communications/<name>/approvals.json`` or the registry entry of a
regulatory block (see :mod:`missiva.composition.library` for their format); a
communication is linted first. :func:`new_block` adds a block to write and approve:
``regulatory/<name>.html`` and its plain-text twin ``<name>.txt`` (a placeholder per
language) and its registry entry (title, owner, version 1, no approval yet): until
``missiva templates approve-block`` records its hashes, lint reports it and rendering
refuses any template that includes it.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from missiva.composition import library
from missiva.composition.errors import RegulatoryBlockError, TemplateError
from missiva.composition.lint import lint
from missiva.files import write_atomic


def approve(
    templates_dir: Path,
    name: str,
    version: str,
    by: str,
    *,
    at: datetime | None = None,
    check: bool = True,
    report: Path | None = None,
) -> dict[str, Any]:
    """Approve the current content of communication ``name`` as ``version``; the record.

    With ``report`` (a folder written by :func:`missiva.composition.proof.diff_templates`
    whose ``to`` side is exactly this content), the record also holds the SHA-256 of the
    report that was reviewed (``report_sha256``) and the versions it compared.

    Refuses when ``version`` is not the current ``meta.json`` version, when that version
    was already approved with different content (bump the version instead), and, with
    ``check``, when :func:`~missiva.composition.lint.lint` finds problems in it.
    Approving an already approved version and content returns the existing record.
    """
    if not by or not by.strip():
        raise TemplateError("approve: 'by' (who approves) is required")
    info = library.template_status(templates_dir, name)
    if str(version) != info["version"]:
        raise TemplateError(
            f"communication {name!r}: cannot approve version {version}, the current "
            f"version in meta.json is {info['version']}"
        )
    records = library.read_approvals(templates_dir, name)
    existing = library.matching_approval(records, info["version"], info["sha256"])
    if existing:
        return existing
    if any(str(r.get("version")) == info["version"] for r in records):
        raise TemplateError(
            f"communication {name!r}: version {info['version']} was approved with other "
            "content; bump the version in meta.json before approving the change"
        )
    if check:
        lint_problems = lint(templates_dir, only=[name])
        problems = [p for p in lint_problems if p.template == name and not p.warning]
        if problems:
            listed = "; ".join(str(p) for p in problems[:5])
            raise TemplateError(f"communication {name!r} does not lint clean: {listed}")
    record: dict[str, Any] = {
        "version": info["version"],
        "sha256": info["sha256"],
        "approved_by": by.strip(),
        "approved_at": _now(at),
    }
    if report is not None:
        record.update(_reviewed(report, name, info["sha256"]))
    _write_json(
        library.communication_dir(templates_dir, name) / library.APPROVALS_FILE, [*records, record]
    )
    return record


def approve_block(
    templates_dir: Path, block: str, by: str, *, at: datetime | None = None
) -> dict[str, Any]:
    """Approve the current files of a regulatory block; return its registry entry.

    Recomputes the SHA-256 of every ``regulatory/<block>.*`` file and records the
    approval for the version the registry holds (bump ``version`` in the registry by
    hand when the wording changes: approving new content under an already approved
    version is refused, so a version always names one text). The previous approval is
    kept in the entry's ``history``.
    """
    library.check_name(block, "regulatory block")
    if not by or not by.strip():
        raise RegulatoryBlockError("approve_block: 'by' (who approves) is required")
    data = library.read_registry_json(templates_dir)
    entry = data["blocks"].get(block)
    if not isinstance(entry, dict) or "owner" not in entry or "version" not in entry:
        raise RegulatoryBlockError(
            f"regulatory block {block!r}: add it to {library.REGISTRY_PATH} with its owner and "
            "version before approving it"
        )
    files = library.block_files(templates_dir, block)
    if not files:
        raise RegulatoryBlockError(f"regulatory block {block!r}: no file regulatory/{block}.*")
    hashes = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    version = str(entry["version"])
    approval = entry.get("approval") or {}
    same_version = str(approval.get("version")) == version and approval.get("approved_by")
    if same_version and entry.get("sha256") == hashes:
        return entry
    if same_version or any(str(h.get("version")) == version for h in entry.get("history", [])):
        raise RegulatoryBlockError(
            f"regulatory block {block!r} (version {version}): its content changed since "
            f"that version was approved; bump its version in {library.REGISTRY_PATH} first"
        )
    if approval:
        entry.setdefault("history", []).append({**approval, "sha256": entry.get("sha256")})
    entry["sha256"] = hashes
    entry["approval"] = {"version": version, "approved_by": by.strip(), "approved_at": _now(at)}
    entry.setdefault("history", [])
    _write_json(Path(templates_dir) / library.REGISTRY_PATH, data)
    return entry


def _reviewed(report: Path, name: str, sha256: str) -> dict[str, Any]:
    """The evidence an approval records of the diff report that was reviewed."""
    from missiva.composition.proof import read_summary, report_hash

    summary = read_summary(report)
    if summary.get("communication") != name or summary.get("to", {}).get("sha256") != sha256:
        raise TemplateError(
            f"{report}: this report does not show the content being approved (it shows "
            f"{summary.get('communication')!r} {summary.get('to', {}).get('sha256', '?')[:12]},"
            f" the approval is for {name!r} {sha256[:12]}); diff it again"
        )
    return {
        "report_sha256": report_hash(report),
        "reviewed_from": summary["from"]["version"],
        "reviewed_changed": bool(summary.get("changed")),
    }


def _now(at: datetime | None) -> str:
    return (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode())


_HTML = """{{# Regulatory clause: {title}. Owner: {owner}.
   Locked once approved: its SHA-256 is recorded in regulatory/registry.json. Edit only
   through the approval process (bump the version in the registry, then approve). #}}
<div class="regulatory {css}">
{{% if lang == "it" %}}
  <h2>{title}</h2>
  <p>Testo da approvare.</p>
{{% else %}}
  <h2>{title}</h2>
  <p>Wording to be approved.</p>
{{% endif %}}
</div>
"""
_TEXT = """{{# Regulatory clause: {title}, plain-text twin of {name}.html. #}}
{{% if lang == "it" %}}
{upper}
Testo da approvare.
{{% else %}}
{upper}
Wording to be approved.
{{% endif %}}
"""


def new_block(templates_dir: Path, name: str, *, owner: str, title: str) -> list[Path]:
    """Write block ``name``'s files and registry entry; the paths written. Refuses,
    writing nothing, a block that exists (in the registry or as files)."""
    library.check_name(name, "regulatory block")
    if not owner.strip() or not title.strip():
        raise RegulatoryBlockError("new-block: --owner and --title must not be empty")
    data = library.read_registry_json(templates_dir)
    if name in data["blocks"] or library.block_files(templates_dir, name):
        raise RegulatoryBlockError(f"regulatory block {name!r} exists already")
    folder = Path(templates_dir) / library.REGULATORY
    values = {
        "name": name,
        "title": title.strip(),
        "owner": owner.strip(),
        "css": name.replace("_", "-"),
        "upper": title.strip().upper(),
    }
    files = {folder / f"{name}.html": _HTML, folder / f"{name}.txt": _TEXT}
    for path, text in files.items():
        write_atomic(path, text.format(**values).encode("utf-8"))
    data["blocks"][name] = {
        "title": values["title"],
        "owner": values["owner"],
        "version": "1",
        "sha256": {},
        "approval": None,
        "history": [],
    }
    registry = Path(templates_dir) / library.REGISTRY_PATH
    _write_json(registry, data)
    return [*files, registry]
