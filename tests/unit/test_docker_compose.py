"""The team stack: docker-compose.yaml and the Dockerfile it builds.

Docker does not run here, so these tests read the files and check what would otherwise
only fail at `docker compose up`: a service missing, an Airflow component on the wrong
executor or database, DAGs read from a folder that is not the mounted project, a start
order without health conditions, an Airflow version that differs between the image and
requirements.txt. Its Connections and settings, fed through the code that reads them
(Airflow's), are checked in tests/component/test_provider_connections.py.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"

PROJECT_MOUNT = PurePosixPath("/opt/airflow/project")
AIRFLOW_VERSION = "3.3.2"

README = ROOT / "README.md"


def readme_services() -> list[str]:
    """The service names (in backticks) of the README's "Team stack" table."""
    section = README.read_text(encoding="utf-8").split("## Team stack", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)


# The services the README documents for the team stack.
EXPECTED_SERVICES = readme_services()
EXPECTED_AIRFLOW_SERVICES = [name for name in EXPECTED_SERVICES if name.startswith("airflow-")]

# Short volume syntax: SOURCE:TARGET[:MODE], where SOURCE may be a ${VAR:-default}
# interpolation that itself contains a colon.
VOLUME_RE = re.compile(
    r"^(?P<source>(?:\$\{[^}]*\}|[^:$])+):(?P<target>[^:]+)(?::(?P<mode>[\w,]+))?$"
)


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    # safe_load resolves anchors, aliases and `<<` merge keys like Compose does.
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the image built from the local Dockerfile."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # list form: ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return env


def volumes(service: dict[str, Any]) -> list[dict[str, str | None]]:
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):  # long syntax
            mode = "ro" if volume.get("read_only") else None
            result.append(
                {"source": volume.get("source"), "target": volume["target"], "mode": mode}
            )
            continue
        match = VOLUME_RE.match(volume)
        assert match, f"cannot parse volume {volume!r}"
        result.append(match.groupdict())
    return result


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def airflow_pin(path: Path = REQUIREMENTS) -> str:
    pins = re.findall(
        r"^\s*apache-airflow\s*==\s*([^\s;#]+)", path.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert len(pins) == 1, f"expected exactly one apache-airflow== pin in {path.name}, got {pins}"
    return pins[0]


def from_images(path: Path = DOCKERFILE) -> list[str]:
    return re.findall(
        r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", path.read_text(encoding="utf-8"), re.M | re.I
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def af_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = airflow_services(compose)
    # Guards against the checks below passing vacuously.
    missing = set(EXPECTED_AIRFLOW_SERVICES) - set(services)
    assert not missing, f"not built from the local Dockerfile: {sorted(missing)}"
    return services


def test_every_documented_service_is_defined(compose: dict[str, Any]) -> None:
    missing = [name for name in EXPECTED_SERVICES if name not in compose["services"]]
    assert not missing, f"services missing from docker-compose.yaml: {missing}"


def test_airflow_services_build_the_local_dockerfile(
    af_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in af_services.items():
        build = svc["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE, name


def test_airflow_services_use_celery_with_postgres_and_redis(
    af_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in af_services.items():
        env = environment(svc)
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name

        metadata_db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert metadata_db.scheme.startswith("postgresql"), name
        assert metadata_db.hostname == "postgres", name

        result_backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert result_backend.scheme.startswith("db+postgresql"), name
        assert result_backend.hostname == "postgres", name

        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert broker.scheme == "redis", name
        assert broker.hostname == "redis", name

        execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert execution_api.hostname == "airflow-apiserver", name
        assert execution_api.path.rstrip("/") == "/execution", name

        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES") == "false", name


def test_airflow_services_mount_the_project_and_read_dags_and_plugins_from_it(
    af_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in af_services.items():
        mounts = [v for v in volumes(svc) if PurePosixPath(v["target"]) == PROJECT_MOUNT]
        assert len(mounts) == 1, f"{name}: the project is not mounted at {PROJECT_MOUNT}"
        (mount,) = mounts
        # The repository itself (".", or ${AIRFLOW_PROJ_DIR:-.}), writable for var/.
        assert re.fullmatch(r"\.|\$\{AIRFLOW_PROJ_DIR:?-\.\}", mount["source"]), name
        assert mount["mode"] in (None, "rw"), f"{name}: the project mount is read-only"

        env = environment(svc)
        for key, folder in [
            ("AIRFLOW__CORE__DAGS_FOLDER", "dags"),
            ("AIRFLOW__CORE__PLUGINS_FOLDER", "plugins"),
            ("MISSIVA_HOME", "var"),
        ]:
            assert PurePosixPath(env.get(key, "")) == PROJECT_MOUNT / folder, f"{name}: {key}"
        for folder in ("dags", "plugins"):
            assert (ROOT / folder).is_dir(), f"{folder}/ is not in the repository"


def test_airflow_services_wait_for_healthy_postgres_and_redis(
    compose: dict[str, Any], af_services: dict[str, dict[str, Any]]
) -> None:
    for backing in ("postgres", "redis"):
        assert "healthcheck" in compose["services"][backing], f"{backing} has no healthcheck"
    for name, svc in af_services.items():
        deps = depends_on(svc)
        for backing in ("postgres", "redis"):
            assert deps.get(backing) == "service_healthy", f"{name} -> {backing}"


def test_airflow_components_start_after_airflow_init(
    af_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in af_services.items():
        if name in ("airflow-init", "airflow-cli"):
            continue
        assert depends_on(svc).get("airflow-init") == "service_completed_successfully", name


def test_health_conditions_point_at_services_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"


def test_environment_values_are_strings_not_yaml_booleans(compose: dict[str, Any]) -> None:
    # Compose rejects `KEY: true`; an unquoted 'false' is a silent YAML trap.
    for name, svc in compose["services"].items():
        for key, value in environment(svc).items():
            assert not isinstance(value, bool), f"{name}: quote the value of {key}"


def test_dockerfile_pins_the_airflow_version_of_requirements() -> None:
    pin = airflow_pin()
    assert pin == AIRFLOW_VERSION
    images = from_images()
    assert images, "Dockerfile has no FROM line"
    repository, _, tag = images[0].partition(":")
    assert repository == "apache/airflow"
    assert tag == pin or tag.startswith(f"{pin}-"), f"image tag {tag!r} != requirements pin {pin}"


def test_dockerfile_installs_requirements_with_constraints_and_the_project() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"pip install[^\n]*(\\\n[^\n]*)*-r\s+\S*requirements\.txt", text)
    assert re.search(r"pip install[^\n]*(\\\n[^\n]*)*-c\s+\S*constraints\.txt", text)
    assert re.search(r"pip install[^\n]*-e\s+\S+", text)
    for package in (
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "libharfbuzz-subset0",
        "fonts-dejavu-core",
    ):
        assert package in text, package


def readme_permissions() -> set[tuple[str, str, tuple[str, ...]]]:
    """(FAB action, resource, FAB roles) of the README's Missiva permissions table."""
    rows = re.findall(
        r"^\| [^|]+ \| `(Missiva [^`]+)` \(`(can_\w+)`\) \| ([a-z, ]+) \|",
        README.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    return {
        (action, resource, tuple(r.strip().capitalize() for r in roles.split(",")))
        for resource, action, roles in rows
    }


def test_airflow_init_grants_missivas_permissions_to_fab_roles(compose: dict[str, Any]) -> None:
    """With the FAB auth manager nobody could read contact data or ingest delivery events
    until an admin granted them by hand: airflow-init grants them, once FAB's roles exist
    (after the DB migration `airflow version` triggers, and `airflow sync-perm`), to the
    roles the README's table names."""
    from missiva.orchestration.fab_grants import grants

    env = environment(compose["services"]["airflow-init"])
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".fab_auth_manager.FabAuthManager")
    assert env["_AIRFLOW_DB_MIGRATE"] == "true"
    script = compose["services"]["airflow-init"]["command"][-1]
    steps = [line.strip() for line in script.splitlines()]
    migrate = steps.index("/entrypoint airflow version")
    sync = steps.index("/entrypoint airflow sync-perm")
    grant = steps.index("/entrypoint python -m missiva.orchestration.fab_grants")
    assert migrate < sync < grant

    assert set(grants()) == readme_permissions()
    assert set(grants()) == {
        ("can_read", "Missiva contact data", ("User", "Op", "Admin")),
        ("can_create", "Missiva delivery events", ("Op", "Admin")),
        ("can_edit", "Missiva release", ("Op", "Admin")),
    }
