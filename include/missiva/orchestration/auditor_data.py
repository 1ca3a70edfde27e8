"""What the auditor's pages read: the ledger and the archive of the API server's process,
a communication's record and its archived bytes, refused (HTTP errors) or flagged
(:class:`Verified`) when missing, altered or withheld."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import HTTPException

from missiva.orchestration.connections import artifact_store, install_master_key, ledger_url
from missiva.privacy.keys import CustomerErased, Withheld
from missiva.privacy.sealing import sealed
from missiva.records import audit, work_files
from missiva.records.ledger import Ledger
from missiva.records.store import ArtifactIntegrityError, ArtifactStore, StoreError
from missiva.records.workspace import workspace
from missiva.settings import Settings


@cache
def _ledger(url: str) -> Ledger:
    return Ledger(url)


def ledger() -> Ledger:
    return _ledger(ledger_url(Settings.from_env()))


@cache
def store() -> ArtifactStore:
    """The store the journeys archive to: the ``missiva_archive`` Connection, else
    ``MISSIVA_ARCHIVE_URL`` (read once per API server process), opening sealed objects
    with the customers' keys in the ledger."""
    install_master_key()
    return sealed(artifact_store(Settings.from_env()), ledger())


def held_in(comm: Any) -> tuple[str, list[str]] | None:
    """The print manifest or portal index holding ``comm``, checked against the ledger."""
    settings, archive = Settings.from_env(), store()
    spaces = [workspace(archive, settings.print_dir, "print")]
    spaces.append(workspace(archive, settings.portal_dir, "portal"))
    return work_files.holding(ledger(), comm, *spaces)


def audited(communication_id: str) -> dict[str, Any]:
    """One communication as ``missiva audit show`` gives it (404 when unknown)."""
    try:
        return audit.show(ledger(), communication_id)
    except audit.AuditError as exc:
        raise HTTPException(404, str(exc)) from exc


def archived(uri: str | None, sha256: str | None) -> bytes:
    """The bytes the ledger points at, refused when missing or altered."""
    if not uri or not sha256:
        raise HTTPException(404, "nothing archived for this communication")
    try:
        return store().get(uri, sha256)
    except Withheld as exc:  # erased (sealed under a destroyed key) or purged
        raise HTTPException(410, _withheld(exc)) from exc
    except ArtifactIntegrityError as exc:  # missing or altered: never served
        raise HTTPException(409, str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(503, f"artifact store: {exc}") from exc


def _withheld(exc: Withheld) -> str:
    if isinstance(exc, CustomerErased):
        return (
            f"Customer {exc}: the archived object remains, sealed under a destroyed key, "
            "and can no longer be opened."
        )
    return f"Archived object {exc}."


@dataclass(frozen=True)
class Verified:
    """An archived object read back: its bytes, or why they are unusable."""

    data: bytes | None = None
    problem: str | None = None
    #: the customer was erased: the object is intact but no key opens it any more
    erased: str | None = None


def verified(uri: str | None, sha256: str | None) -> Verified:
    """For pages: a missing or altered object is shown as such, not as an error."""
    if not uri or not sha256:
        return Verified()
    try:
        return Verified(store().get(uri, sha256))
    except Withheld as exc:
        return Verified(erased=_withheld(exc))
    except StoreError as exc:
        return Verified(problem=str(exc))
