"""Missiva's permissions granted to the FAB auth manager's default roles.

``python -m missiva.orchestration.fab_grants`` (docker-compose.yaml's airflow-init runs
it once Airflow's database is migrated) gives each permission to the role that holds it
under SimpleAuthManager and every role above (``User``: read contact data; ``Op``:
ingest delivery events; ``Admin``: both). FAB's ``airflow roles add-perms`` cannot do
it: it refuses a resource that does not exist yet, and Missiva's resources exist only
once granted. Running it again changes nothing.
"""

from missiva.orchestration.permissions import PERMISSIONS

#: FAB's default roles, least to most
FAB_ROLES = ("Viewer", "User", "Op", "Admin")
#: the FAB action the auth manager checks for a custom view's method
FAB_ACTIONS = {"GET": "can_read", "POST": "can_create", "PUT": "can_edit", "DELETE": "can_delete"}


def grants() -> list[tuple[str, str, tuple[str, ...]]]:
    """(FAB action, resource, roles) for each of Missiva's permissions."""
    return [
        (
            FAB_ACTIONS[p.method],
            p.resource,
            FAB_ROLES[FAB_ROLES.index(p.simple_role.capitalize()) :],
        )
        for p in PERMISSIONS
    ]


def main() -> None:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        for action, resource, roles in grants():
            permission = security.create_permission(action, resource)  # with its resource
            for name in roles:
                role = security.find_role(name)
                if role is None:
                    raise SystemExit(f"FAB role {name!r} does not exist: migrate Airflow's DB")
                if permission not in role.permissions:
                    security.add_permission_to_role(role, permission)
                print(f"{name}: {action} on {resource}")


if __name__ == "__main__":
    main()
