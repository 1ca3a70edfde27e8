"""The environment of the local cluster's processes (:mod:`missiva.devtools.cluster`): the
Airflow configuration, Connections and Missiva settings they share, and what differs for
the control plane and for each worker (homes, log server port, host name)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url

from missiva.devtools.cluster_processes import free_port
from missiva.paths import INCLUDE_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from missiva.devtools.seaweedfs import SeaweedS3

ARCHIVE_BUCKET = "missiva-archive"
HOSTNAME_ENV = "MISSIVA_CLUSTER_HOSTNAME"
NO_QUIET_HOURS = INCLUDE_DIR / "contact_policy_no_quiet_hours.toml"
BIN_DIR = Path(sys.executable).parent
#: compiled bytecode of every process (a deployed image has it; a venv installed without it
#: and ``PYTHONDONTWRITEBYTECODE`` made each task process compile Airflow, WeasyPrint and
#: Great Expectations from source: up to 6 CPU-s more a task), kept apart from the venv
PYCACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "missiva/pycache"
#: seconds without a heartbeat after which a running task counts as dead (then retried)
HEARTBEAT_TIMEOUT = 60


def worker_hostname() -> str:
    """The host name a worker reports to Airflow (``[core] hostname_callable``): its own,
    as each would have on its own machine."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


HOSTNAME_CALLABLE = f"{worker_hostname.__module__}.{worker_hostname.__qualname__}"


@dataclass(frozen=True)
class Wiring:
    """What the cluster's processes talk to: databases, Redis, S3, api-server, sinks."""

    airflow_db: str
    ledger_db: str
    core_db: str
    broker_url: str
    key_prefix: str
    queue: str
    s3: SeaweedS3
    api_url: str
    smtp_port: int
    sms_port: int
    passwords_file: Path


def shared_env(
    wiring: Wiring,
    *,
    parallelism: int,
    use_job_schedule: bool,
    contact_policy: Path | None,
    executor: str = "CeleryExecutor",
) -> dict[str, str]:
    """The environment of every process: this one's without its Airflow, Missiva and AWS
    settings, plus the cluster's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "MISSIVA_", "AWS_"))
        and k not in ("PYTHONSTARTUP", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(_airflow_config(wiring, parallelism, use_job_schedule, executor))
    env.update(connections(wiring))
    env.update(
        {
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
            # a Postgres ledger needs its chain key: this shell's, else the cluster's demo one
            "MISSIVA_LEDGER_KEY": os.environ.get("MISSIVA_LEDGER_KEY") or "cluster-demo-ledger-key",
            "MISSIVA_MASTER_KEY": os.environ.get("MISSIVA_MASTER_KEY") or "cluster-demo-master-key",
            "MISSIVA_CONTACT_POLICY": str(
                contact_policy or os.environ.get("MISSIVA_CONTACT_POLICY") or NO_QUIET_HOURS
            ),
            "GX_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(INCLUDE_DIR), os.environ.get("PYTHONPATH", "")) if p
            ),
            "PYTHONPYCACHEPREFIX": os.environ.get("PYTHONPYCACHEPREFIX") or str(PYCACHE_DIR),
        }
    )
    return env


def _airflow_config(
    wiring: Wiring, parallelism: int, use_job_schedule: bool, executor: str
) -> dict[str, str]:
    """``AIRFLOW__*``: the executor (CeleryExecutor in the deployed shape) on the
    cluster's metadata DB, queue and api-server."""
    result_backend = make_url(wiring.airflow_db).render_as_string(hide_password=False)
    return {
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": wiring.airflow_db,
        # psycopg 3 is async too: no asyncpg (Airflow's default async driver)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": wiring.airflow_db,
        "AIRFLOW__CELERY__BROKER_URL": wiring.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{result_backend}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": wiring.key_prefix,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": wiring.queue,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": wiring.api_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{wiring.api_url}/execution/",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(use_job_schedule),
        # a task whose worker died (no heartbeat) fails, hence is retried, after 60 s, not 300
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(wiring.passwords_file),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


def connections(wiring: Wiring) -> dict[str, str]:
    """``AIRFLOW_CONN_*``: core systems, ledger, SMTP and SMS sinks, the Object Lock
    archive."""
    s3 = wiring.s3
    archive = {
        "conn_type": "aws",
        "login": s3.access_key,
        "password": s3.secret_key,
        "extra": {
            "bucket": ARCHIVE_BUCKET,
            "endpoint_url": s3.endpoint_url,
            "region_name": s3.region,
            "retention_mode": "GOVERNANCE",
            "retention_days": 1,
        },
    }
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": wiring.smtp_port,
        "extra": {"disable_tls": True, "disable_ssl": True},
    }
    sms = {
        "conn_type": "http",
        "schema": "http",
        "host": "127.0.0.1",
        "port": wiring.sms_port,
        "password": "cluster-token",
    }
    core = {"conn_type": "generic", "extra": {"sqlalchemy_url": wiring.core_db}}
    return {
        "AIRFLOW_CONN_MISSIVA_CORE": json.dumps(core),
        "AIRFLOW_CONN_MISSIVA_LEDGER": json.dumps(postgres_connection(wiring.ledger_db)),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
        "AIRFLOW_CONN_MISSIVA_SMS": json.dumps(sms),
        "AIRFLOW_CONN_MISSIVA_ARCHIVE": json.dumps(archive),
    }


def postgres_connection(url: str) -> dict[str, object]:
    """A ``postgres`` Connection (JSON form) of a Postgres SQLAlchemy URL."""
    parsed = make_url(url)
    return {
        "conn_type": "postgres",
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "password": parsed.password,
        "schema": parsed.database,
    }


def control_env(
    shared: dict[str, str], airflow_home: Path, missiva_home: Path, log_server_port: int
) -> dict[str, str]:
    """A control-plane process's: its homes, and the port the api-server fetches running
    tasks' logs from."""
    return {
        **shared,
        "AIRFLOW_HOME": str(airflow_home),
        "MISSIVA_HOME": str(missiva_home),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
    }


def worker_env(
    shared: dict[str, str],
    hostname: str,
    airflow_home: Path,
    missiva_home: Path,
    log_server_port: int,
) -> dict[str, str]:
    """A worker's: its homes, its log server port and its own host name."""
    return {
        **control_env(shared, airflow_home, missiva_home, log_server_port),
        HOSTNAME_ENV: hostname,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
    }
