"""Missiva's own permissions (custom views of Airflow's auth manager), free of Airflow
imports: :mod:`~missiva.orchestration.auditor_access` asks the auth manager about them,
:mod:`~missiva.orchestration.fab_grants` grants them to FAB's roles."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    """A custom view of the auth manager: ``method`` on ``resource``."""

    resource: str
    method: str
    simple_role: str  # the least SimpleAuthManager role holding it

    def __str__(self) -> str:
        return f"{self.method} on {self.resource!r}"


CONTACT_DATA = Permission("Missiva contact data", "GET", "user")
DELIVERY_EVENTS = Permission("Missiva delivery events", "POST", "op")
#: answer a held run's release gate (:mod:`missiva.orchestration.release_gate`)
RELEASE = Permission("Missiva release", "PUT", "op")
PERMISSIONS = (CONTACT_DATA, DELIVERY_EVENTS, RELEASE)
