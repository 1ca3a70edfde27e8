"""Who may do what on the auditor page, asked of Airflow's auth manager, and the record
of each request in Airflow's audit log (the ``log`` table: Browse > Audit Log).

Missiva's permissions are custom views of the auth manager (``is_authorized_custom_view``),
granted to roles like any Airflow permission (FAB: the action on the resource below):

====================  ===========================  ==========  ======================
permission            resource                     FAB action  SimpleAuthManager role
====================  ===========================  ==========  ======================
read contact data     ``Missiva contact data``     can_read    ``user`` and above
ingest delivery       ``Missiva delivery events``  can_create  ``op`` and above
release a held run    ``Missiva release``          can_edit    ``op`` and above
====================  ===========================  ==========  ======================

The release permission is enforced by Airflow itself: the users holding it are the
assigned users of a held run's release gate (:mod:`missiva.orchestration.release_gate`).

Opening the pages needs what the Airflow UI needs (``AccessView.WEBSITE``: every role).
SimpleAuthManager answers every custom view with "any viewer may", whatever the method
or resource, so for it Missiva compares the user's role with the table above itself.
With FAB, ``missiva.orchestration.fab_grants`` grants them (docker-compose's airflow-init).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
    SimpleAuthManager,
    SimpleAuthManagerRole,
)
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

from missiva.orchestration.permissions import CONTACT_DATA, DELIVERY_EVENTS, Permission

__all__ = [
    "CONTACT_DATA",
    "DELIVERY_EVENTS",
    "AuditEntry",
    "Permission",
    "granted",
    "may_use_ui",
    "write_audit_log",
]

log = logging.getLogger(__name__)


def may_use_ui(user: BaseUser) -> bool:
    return get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user)


def granted(user: BaseUser | None, permission: Permission) -> bool:
    """Whether the auth manager gives ``user`` the ``permission``."""
    if user is None:
        return False
    manager = get_auth_manager()
    if isinstance(manager, SimpleAuthManager) and isinstance(user, SimpleAuthManagerUser):
        return _simple_role_at_least(user, permission.simple_role)
    return manager.is_authorized_custom_view(
        method=permission.method, resource_name=permission.resource, user=user
    )


def _simple_role_at_least(user: SimpleAuthManagerUser, role: str) -> bool:
    try:
        held = SimpleAuthManagerRole[(user.role or "").upper()]
    except KeyError:  # no role, or one this Airflow does not know
        return False
    return held.order >= SimpleAuthManagerRole[role.upper()].order


# --- Airflow's audit log ------------------------------------------------------------------


@dataclass
class AuditEntry:
    """One request to write to the audit log once it is answered."""

    event: str
    owner: str
    extra: dict[str, Any]


def write_audit_log(entry: AuditEntry, status: int) -> None:
    """A row in Airflow's ``log`` table: the event, who, and what was asked and answered.

    A failure to write is logged, never turned into an answer the user did not get.
    """
    from airflow.models import Log
    from airflow.utils.session import create_session

    extra = entry.extra | {"status": status}
    try:
        with create_session() as session:
            session.add(
                Log(
                    event=entry.event,
                    owner=entry.owner,
                    owner_display_name=entry.owner,
                    extra=json.dumps(extra, default=str),
                    dag_id=extra.get("dag_id"),
                    run_id=extra.get("run_id"),
                )
            )
    except Exception:
        log.exception("could not write %s by %s to Airflow's audit log", entry.event, entry.owner)
