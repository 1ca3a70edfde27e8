"""Missiva as deployed, on this machine, without Docker.

:func:`running_cluster` starts, each in its own process group:

- the Airflow api-server, scheduler, dag-processor and triggerer on a Postgres metadata
  database it creates, with the CeleryExecutor (Redis broker, Postgres result backend);
- N Celery workers (2 by default), each with its own empty working directory,
  ``AIRFLOW_HOME`` and ``MISSIVA_HOME`` (nothing can pass between them through a local
  disk) and its own host name (``--celery-hostname``, and the host name Airflow records
  on the task instances, through ``[core] hostname_callable`` = :func:`worker_hostname`);
- SeaweedFS as S3, with the archive bucket under Object Lock (``missiva_archive``);
- the ledger (the ``missiva_ledger`` Connection) and the core systems (``missiva_core``,
  seeded with the demo data) on Postgres, each a database it creates;
- the SMTP sink and the SMS provider sink.

Everything is stopped on exit (SIGTERM to each process group, SIGKILL after a grace
period), its databases dropped and its Redis keys removed, unless ``keep``. It needs
Postgres (``MISSIVA_CLUSTER_POSTGRES_URL``, default ``postgresql+psycopg://postgres@
127.0.0.1:5432/postgres``, a role that can create databases) and Redis
(``MISSIVA_CLUSTER_REDIS_URL``, default ``redis://127.0.0.1:6379/0``). Nothing here imports
Airflow: the parts are processes. ``python -m missiva.devtools.cluster`` (``make cluster``)
runs it until Ctrl-C. Its processes are in :mod:`~missiva.devtools.cluster_processes`,
their environment in :mod:`~missiva.devtools.cluster_env`, the stores it uses in
:mod:`~missiva.devtools.cluster_services`, the steps that start them in
:mod:`~missiva.devtools.cluster_startup`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import make_url

from missiva.devtools.cluster_env import (
    ARCHIVE_BUCKET,
    NO_QUIET_HOURS,
    Wiring,
    control_env,
    shared_env,
    worker_hostname,
)
from missiva.devtools.cluster_processes import ClusterError, Launcher, Part, free_port
from missiva.devtools.cluster_services import (
    POSTGRES_URL,
    REDIS_URL,
    check_services,
    create_databases,
    preflight,
    seed_core,
    start_archive,
)
from missiva.devtools.cluster_startup import (
    migrate_metadata_db,
    start_control_plane,
    start_sinks,
    start_workers,
    wait_ready,
)
from missiva.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from missiva.records.ledger import Ledger

__all__ = [
    "NO_QUIET_HOURS",
    "POSTGRES_URL",
    "REDIS_URL",
    "Cluster",
    "ClusterError",
    "Worker",
    "check_services",
    "main",
    "running_cluster",
    "worker_hostname",
]

USERS = ("admin", "viewer")


@dataclass
class Worker:
    hostname: str
    workdir: Path
    airflow_home: Path
    missiva_home: Path
    log_server_port: int


@dataclass
class Cluster:
    """Where each part of a running cluster is, and how to talk to it."""

    root: Path
    api_url: str
    passwords: dict[str, str]
    airflow_db_url: str
    ledger_url: str
    core_url: str
    broker_url: str
    queue: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str
    bucket: str
    maildir: Path
    sms_dir: Path
    control_home: Path
    workers: list[Worker]
    env: dict[str, str]
    parts: list[Part] = field(default_factory=list)

    @property
    def archive_url(self) -> str:
        """The archive as a ``MISSIVA_ARCHIVE_URL`` (for ``missiva audit``)."""
        return f"s3://{self.bucket}?endpoint_url={self.s3_endpoint}&region={self.s3_region}"

    def open_ledger(self) -> Ledger:
        """The cluster's ledger, under the chain key its processes use (and their master
        key, installed for this process)."""
        from missiva.privacy import master_key
        from missiva.records.ledger import Ledger

        master_key.install(self.env["MISSIVA_MASTER_KEY"])
        return Ledger(self.ledger_url, key=self.env["MISSIVA_LEDGER_KEY"])

    def cli_env(self) -> dict[str, str]:
        """Environment for ``missiva`` commands against this cluster's ledger and archive."""
        env = {**self.env, "MISSIVA_HOME": str(self.root / "cli-home")}
        env.update(
            MISSIVA_ARCHIVE_URL=self.archive_url,
            MISSIVA_LEDGER_URL=self.ledger_url,
            AWS_ACCESS_KEY_ID=self.s3_access_key,
            AWS_SECRET_ACCESS_KEY=self.s3_secret_key,
        )
        return env

    def token(self, user: str = "admin") -> str:
        """A REST API token (``POST /auth/token`` of the SimpleAuthManager)."""
        response = httpx.post(
            f"{self.api_url}/auth/token",
            json={"username": user, "password": self.passwords[user]},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, user: str = "admin") -> httpx.Client:
        """An HTTP client on ``/api/v2`` with a token of ``user``."""
        return httpx.Client(
            base_url=f"{self.api_url}/api/v2",
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=60,
        )

    def check(self) -> None:
        """Raise :class:`ClusterError` if any part has exited."""
        for part in self.parts:
            part.check()

    def describe(self) -> str:
        hidden = {
            "airflow metadata": self.airflow_db_url,
            "ledger": self.ledger_url,
            "core systems": self.core_url,
        }
        lines = [f"== Missiva cluster in {self.root}"]
        lines.append(f"   Airflow UI / REST API   {self.api_url}  (execution API: /execution/)")
        for user in USERS:
            lines.append(f"     log in as {user:<7} password {self.passwords[user]}")
        for what, url in hidden.items():
            lines.append(f"   {what:<23} {make_url(url).render_as_string(hide_password=True)}")
        lines.append(f"   Celery broker           {self.broker_url} (queue {self.queue})")
        lines.append(f"   S3 (SeaweedFS)          {self.s3_endpoint} bucket {self.bucket}")
        lines.append(f"   SMTP sink               mail stored in {self.maildir}")
        lines.append(f"   SMS sink                messages stored in {self.sms_dir}")
        for worker in self.workers:
            lines.append(
                f"   worker {worker.hostname:<16} cwd {worker.workdir}, "
                f"MISSIVA_HOME {worker.missiva_home}"
            )
        for part in self.parts:
            lines.append(f"   {part.name:<23} pid {part.process.pid}, log {part.log}")
        return "\n".join(lines)


@contextmanager
def running_cluster(
    root: Path,
    *,
    workers: int = 2,
    customers: int = 200,
    seed: int = 42,
    api_port: int | None = None,
    contact_policy: Path | None = None,
    use_job_schedule: bool = False,
    executor: str = "CeleryExecutor",
    parallelism: int | None = None,
    extra_env: dict[str, str] | None = None,
    keep: bool = False,
    log: Callable[[str], None] = print,
) -> Iterator[Cluster]:
    """Start the cluster under ``root`` (logs and each process's folders); stop it all
    on exit. ``use_job_schedule=False`` (the default) lets the scheduler run only
    triggered runs: the demo data is of 2026-11, not of today. With
    ``executor="LocalExecutor"`` (and ``workers=0``) the scheduler runs the tasks itself;
    ``parallelism`` (default: the workers, at least 2) caps the tasks running at once;
    ``extra_env`` is added to every process's environment."""
    root = root.resolve()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    weed = preflight()
    tag = uuid.uuid4().hex[:10]
    key_prefix = f"missiva-cluster-{tag}:"
    started = time.monotonic()
    with ExitStack() as stack:
        airflow_db, ledger_db, core_db = create_databases(stack, tag, key_prefix, keep, log)
        s3 = start_archive(stack, weed, root / "s3", log)
        seed_core(core_db, customers, seed, log)
        api_port = api_port or free_port()
        passwords_file = root / "passwords.json"
        passwords = _write_passwords(passwords_file)
        wiring = Wiring(
            airflow_db=airflow_db,
            ledger_db=ledger_db,
            core_db=core_db,
            broker_url=REDIS_URL,
            key_prefix=key_prefix,
            queue=f"missiva-{tag}",
            s3=s3,
            api_url=f"http://127.0.0.1:{api_port}",
            smtp_port=free_port(),
            sms_port=free_port(),
            passwords_file=passwords_file,
        )
        env = shared_env(
            wiring,
            parallelism=parallelism or max(2, workers),
            use_job_schedule=use_job_schedule,
            contact_policy=contact_policy,
            executor=executor,
        )
        env.update(extra_env or {})
        cluster = _cluster(root, wiring, passwords, _make_workers(root, workers), env)
        control = _control_env(cluster)
        migrate_metadata_db(cluster, control)
        log(f"Airflow metadata DB migrated ({time.monotonic() - started:.0f} s)")
        launcher = Launcher(stack, root / "logs", cluster.parts)
        start_sinks(cluster, launcher, control, wiring)
        parts = start_control_plane(cluster, launcher, control, api_port)
        parts += start_workers(cluster, launcher)
        wait_ready(cluster, parts, started, log)
        yield cluster


def _write_passwords(path: Path) -> dict[str, str]:
    """New passwords of :data:`USERS`, in the SimpleAuthManager's passwords file."""
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    path.write_text(json.dumps(passwords))
    path.chmod(0o600)
    return passwords


def _make_workers(root: Path, count: int) -> list[Worker]:
    """``count`` workers, each with its own (created) folders under ``root``."""
    workers = []
    for number in range(1, count + 1):
        base = root / f"worker-{number}"
        worker = Worker(
            hostname=f"missiva-worker-{number}",
            workdir=base / "cwd",
            airflow_home=base / "airflow",
            missiva_home=base / "missiva",
            log_server_port=free_port(),
        )
        for folder in (worker.workdir, worker.airflow_home, worker.missiva_home):
            folder.mkdir(parents=True, exist_ok=True)
        workers.append(worker)
    return workers


def _cluster(
    root: Path,
    wiring: Wiring,
    passwords: dict[str, str],
    workers: list[Worker],
    env: dict[str, str],
) -> Cluster:
    """The cluster's description, before any of its processes starts."""
    s3 = wiring.s3
    return Cluster(
        root=root,
        api_url=wiring.api_url,
        passwords=passwords,
        airflow_db_url=wiring.airflow_db,
        ledger_url=wiring.ledger_db,
        core_url=wiring.core_db,
        broker_url=wiring.broker_url,
        queue=wiring.queue,
        s3_endpoint=s3.endpoint_url,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        s3_region=s3.region,
        bucket=ARCHIVE_BUCKET,
        maildir=root / "mail",
        sms_dir=root / "sms",
        control_home=root / "control",
        workers=workers,
        env=env,
    )


def _control_env(cluster: Cluster) -> dict[str, str]:
    """The control plane's environment, its (created) homes under ``control_home``."""
    airflow_home = cluster.control_home / "airflow"
    missiva_home = cluster.control_home / "missiva"
    airflow_home.mkdir(parents=True, exist_ok=True)
    missiva_home.mkdir(parents=True, exist_ok=True)
    # the api-server fetches running tasks' logs from this port (one for all hosts)
    workers = cluster.workers
    log_server_port = workers[0].log_server_port if workers else free_port()
    return control_env(cluster.env, airflow_home, missiva_home, log_server_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "var" / "cluster")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--port", type=int, default=8080, help="api-server port")
    parser.add_argument("--keep", action="store_true", help="keep the databases on exit")
    args = parser.parse_args(argv)
    stop = {"now": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with running_cluster(
            args.root,
            workers=args.workers,
            customers=args.customers,
            api_port=args.port,
            keep=args.keep,
        ) as cluster:
            print(cluster.describe())
            print(
                "== trigger a run: the UI, or\n"
                f"   curl -X POST {cluster.api_url}/api/v2/dags/onboarding/dagRuns -H "
                "'Authorization: Bearer <token>' -H 'Content-Type: application/json' -d "
                '\'{"logical_date": "2026-11-03T00:00:00Z", "conf": {"chunk_size": 50}}\'\n'
                f"   (token: POST {cluster.api_url}/auth/token with the admin login)\n"
                "== Ctrl-C stops everything",
                flush=True,
            )
            while not stop["now"]:
                cluster.check()
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        print("== cluster stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
