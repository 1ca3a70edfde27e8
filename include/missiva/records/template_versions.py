"""Which communications went out under each version of a template, and on which approval.

The ledger records each communication's template and version; an approval names one
version with one content (approving changed content under an approved version is
refused), so the version leads to its approval record: who, when, and the hash of the
diff report that was reviewed.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from missiva.composition import library
from missiva.records.models import Communication


def versions_sent(engine: Engine, templates_dir: Path, name: str) -> list[dict[str, Any]]:
    """Per version of template ``name`` in the ledger: communications by status, first and
    last creation time, and the approval of that version (None: none on record)."""
    query = (
        select(
            Communication.template_version,
            Communication.status,
            func.count(),
            func.min(Communication.created_at),
            func.max(Communication.created_at),
        )
        .where(Communication.template == name)
        .group_by(Communication.template_version, Communication.status)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    approvals = _approvals_by_version(library.read_approvals(templates_dir, name))
    versions: dict[str, dict[str, Any]] = {}
    for version, status, count, first, last in rows:
        entry = versions.setdefault(
            str(version),
            {
                "version": str(version),
                "communications": 0,
                "by_status": {},
                "first": first,
                "last": last,
                "approval": approvals.get(str(version)),
            },
        )
        entry["communications"] += count
        entry["by_status"][status] = count
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
    return [
        {**entry, "first": str(entry["first"]), "last": str(entry["last"])}
        for _, entry in sorted(versions.items())
    ]


def approval_of(templates_dir: Path, name: str, version: str) -> dict[str, Any] | None:
    """The approval of version ``version`` of template ``name`` in the library's
    ``approvals.json`` (who, when, the content's and the reviewed report's SHA-256);
    None: none on record."""
    return _approvals_by_version(library.read_approvals(templates_dir, name)).get(str(version))


def _approvals_by_version(records: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The approval of each version (the last record of it: one per version by rule)."""
    keys = ("approved_by", "approved_at", "sha256", "report_sha256")
    return {str(r["version"]): {k: r.get(k) for k in keys} for r in records if r.get("approved_by")}
