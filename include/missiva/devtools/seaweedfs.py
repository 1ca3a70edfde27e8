"""Start and stop a throwaway SeaweedFS (``weed server`` with its S3 gateway): for the
integration tests and the local cluster (:mod:`missiva.devtools.cluster`).

One process (master + volume + filer + S3 gateway) on free localhost ports, with its
data, logs, config and local sockets in one folder, signed requests required (one
static identity), and volume growth cut to one small volume per bucket so a handful of
buckets fit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

STARTUP_TIMEOUT = 60.0
ACCESS_KEY = "missiva-test"
SECRET_KEY = "missiva-test-secret"  # noqa: S105 - a throwaway local server's key
REGION = "us-east-1"
_SERVICES = ("master", "volume", "filer", "s3")  # each has an HTTP and a gRPC port


@dataclass(frozen=True)
class SeaweedS3:
    """A running SeaweedFS S3 gateway."""

    endpoint_url: str
    filer_url: str
    access_key: str
    secret_key: str
    region: str
    workdir: Path
    command: tuple[str, ...]
    startup_seconds: float

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client on this server (path-style, one attempt unless told)."""
        settings: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        settings.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(**settings),
        )

    def new_bucket(self, *, object_lock: bool = False) -> str:
        name = f"{'worm' if object_lock else 'plain'}-{uuid.uuid4().hex[:12]}"
        kwargs: dict[str, Any] = {"Bucket": name}
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        self.client().create_bucket(**kwargs)
        return name


def weed_binary() -> str | None:
    """``$WEED_BIN``, else ``weed`` next to this interpreter (the venv), else on PATH."""
    explicit = os.environ.get("WEED_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """Distinct free localhost ports (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a second: a graceful stop takes over 15 s (the filer
    waits for its S3 subscriber), which a throwaway server need not sit through."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class SeaweedStartupError(RuntimeError):
    """The server exited or did not answer in time (the message carries its log)."""


def weed_command(
    binary: str,
    workdir: Path,
    ports: dict[str, tuple[int, int]],
    volume_mb: int = 16,
    volumes: int = 16,
) -> list[str]:
    """The ``weed server`` command line: every port explicit (gRPC ports default to
    HTTP + 10000, which may be taken), the Iceberg/Lance listeners off, ``volumes``
    volumes of ``volume_mb`` at most (a test's 256 MB by default; 0 volumes: as many as
    the free disk holds), no telemetry, no 10 s pre-stop wait, local sockets in workdir."""
    return [
        binary,
        f"-logdir={workdir / 'logs'}",
        "server",
        "-ip=127.0.0.1",
        f"-dir={workdir / 'data'}",
        f"-master.port={ports['master'][0]}",
        f"-master.port.grpc={ports['master'][1]}",
        f"-master.volumeSizeLimitMB={volume_mb}",
        "-master.telemetry=false",
        f"-volume.port={ports['volume'][0]}",
        f"-volume.port.grpc={ports['volume'][1]}",
        f"-volume.max={volumes}",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={ports['filer'][0]}",
        f"-filer.port.grpc={ports['filer'][1]}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3'][0]}",
        f"-s3.port.grpc={ports['s3'][1]}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-s3.config={workdir / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def _prepare(workdir: Path) -> None:
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    # one static identity: requests must be signed with this key
    identities = {
        "identities": [
            {
                "name": "missiva-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    # weed reads master.toml from its working directory. Each bucket is a collection,
    # and by default its first write grows 7 volumes at once: grow 1 instead.
    (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n")


@contextmanager
def running_seaweedfs(binary: str, workdir: Path, **volumes: int) -> Iterator[SeaweedS3]:
    """A started, ready SeaweedFS S3 gateway (``volumes``: :func:`weed_command`'s
    ``volume_mb`` and ``volumes``); stopped (and its /tmp sockets removed) on exit.
    Raises :class:`SeaweedStartupError` if it does not come up."""
    _prepare(workdir)
    numbers = free_ports(2 * len(_SERVICES))
    ports = {name: (numbers[2 * i], numbers[2 * i + 1]) for i, name in enumerate(_SERVICES)}
    command = weed_command(binary, workdir, ports, **volumes)
    log = workdir / "weed.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = SeaweedS3(
        endpoint_url=f"http://127.0.0.1:{ports['s3'][0]}",
        filer_url=f"http://127.0.0.1:{ports['filer'][0]}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        workdir=workdir,
        command=tuple(command),
        startup_seconds=0.0,
    )
    try:
        _wait_ready(process, server, ports["s3"][0], log, started)
        yield replace(server, startup_seconds=time.monotonic() - started)
    finally:
        _stop(process)
        # the gRPC unix sockets are hard-coded: /tmp/seaweedfs-<service>-grpc-<port>.sock
        for service, (_, grpc_port) in ports.items():
            Path(f"/tmp/seaweedfs-{service}-grpc-{grpc_port}.sock").unlink(missing_ok=True)  # noqa: S108


def _wait_ready(
    process: subprocess.Popen[bytes], server: SeaweedS3, port: int, log: Path, started: float
) -> None:
    """Until the S3 port answers a signed request: it opens before the filer is
    reachable and the identities are loaded."""
    client = server.client(connect_timeout=1, read_timeout=2)
    last_error: Exception | None = None
    while time.monotonic() < started + STARTUP_TIMEOUT:
        if process.poll() is not None:
            raise SeaweedStartupError(
                f"weed server exited with {process.returncode} during startup:\n{_log_tail(log)}"
            )
        if _port_open(port):
            try:
                client.list_buckets()
                return
            except Exception as exc:
                last_error = exc
        time.sleep(0.05)
    raise SeaweedStartupError(
        f"SeaweedFS S3 not ready after {STARTUP_TIMEOUT:.0f} s ({last_error}):\n{_log_tail(log)}"
    )
