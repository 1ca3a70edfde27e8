"""The start-up steps of the local cluster (:mod:`missiva.devtools.cluster`), in order:
migrate Airflow's metadata database, start the SMTP and SMS sinks, the control plane
(api-server, scheduler, dag-processor, triggerer) and the Celery workers, then wait until
the api-server answers and the onboarding DAG is parsed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from missiva.devtools.cluster_env import BIN_DIR, Wiring, worker_env
from missiva.devtools.cluster_processes import Launcher, Part, port_open, run_logged, wait_until

if TYPE_CHECKING:
    from missiva.devtools.cluster import Cluster

STARTUP_TIMEOUT = 240.0


def migrate_metadata_db(cluster: Cluster, env: dict[str, str]) -> None:
    log = cluster.root / "logs" / "airflow-db-migrate.log"
    migrate = ["airflow", "db", "migrate"]
    run_logged("airflow db migrate", migrate, env, cluster.control_home, log)


def start_sinks(cluster: Cluster, launcher: Launcher, env: dict[str, str], wiring: Wiring) -> None:
    """The SMTP and SMS sinks, once both listen."""
    missiva, home = str(BIN_DIR / "missiva"), cluster.control_home
    smtp, sms = str(wiring.smtp_port), str(wiring.sms_port)
    smtp_sink = [missiva, "smtp-sink", "--port", smtp, "--maildir", str(cluster.maildir)]
    sms_sink = [missiva, "sms-sink", "--port", sms, "--out", str(cluster.sms_dir)]
    sinks = [
        launcher.start("smtp-sink", smtp_sink, env, home),
        launcher.start("sms-sink", sms_sink, env, home),
    ]
    wait_until(
        "sinks", lambda: port_open(wiring.smtp_port) and port_open(wiring.sms_port), sinks, 30
    )


def start_control_plane(
    cluster: Cluster, launcher: Launcher, env: dict[str, str], api_port: int
) -> list[Part]:
    """The api-server, scheduler, dag-processor and triggerer."""
    home = cluster.control_home
    api_server = [
        "airflow", "api-server",
        "--host", "127.0.0.1",
        "--port", str(api_port),
        "--workers", "1",
    ]  # fmt: skip
    parts = [launcher.start("api-server", api_server, env, home)]
    for component in ("scheduler", "dag-processor", "triggerer"):
        parts.append(launcher.start(component, ["airflow", component], env, home))
    return parts


def start_workers(cluster: Cluster, launcher: Launcher) -> list[Part]:
    """One Celery worker per :class:`Worker`, on the cluster's queue."""
    parts = []
    for worker in cluster.workers:
        env = worker_env(
            cluster.env,
            worker.hostname,
            worker.airflow_home,
            worker.missiva_home,
            worker.log_server_port,
        )
        command = [
            "airflow", "celery", "worker",
            "--celery-hostname", f"{worker.hostname}@%h",
            "--concurrency", "1",
            "--queues", cluster.queue,
        ]  # fmt: skip
        parts.append(launcher.start(worker.hostname, command, env, worker.workdir))
    return parts


def wait_ready(
    cluster: Cluster, parts: list[Part], started: float, log: Callable[[str], None]
) -> None:
    """Wait for the api-server, then for the onboarding DAG to be parsed."""
    wait_until("api-server", lambda: _api_healthy(cluster.api_url), parts, STARTUP_TIMEOUT)
    log(f"api-server healthy ({time.monotonic() - started:.0f} s)")
    wait_until(
        "the onboarding DAG (parsed by the dag-processor)",
        lambda: _dag_known(cluster, "onboarding"),
        parts,
        STARTUP_TIMEOUT,
    )
    log(f"cluster ready in {time.monotonic() - started:.0f} s")


def _api_healthy(api_url: str) -> bool:
    response = httpx.get(f"{api_url}/api/v2/monitor/health", timeout=5)
    return response.status_code == 200


def _dag_known(cluster: Cluster, dag_id: str) -> bool:
    with cluster.api() as api:
        return api.get(f"/dags/{dag_id}").status_code == 200
