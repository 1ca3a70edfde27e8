"""The processes of the local cluster (:mod:`missiva.devtools.cluster`): starting each in
its own process group with its log, waiting for it, stopping it, free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE = 20.0


class ClusterError(RuntimeError):
    """A part did not start (the message says which and where its log is)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 40) -> str:
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

    def check(self) -> None:
        if self.process.poll() is not None:
            raise ClusterError(
                f"{self.name} exited with {self.process.returncode}; log {self.log}:\n"
                f"{log_tail(self.log)}"
            )


@dataclass
class Launcher:
    """Starts parts with their logs in ``log_dir``, lists them in ``parts`` and has
    ``stack`` stop them on exit (in reverse order of start)."""

    stack: ExitStack
    log_dir: Path
    parts: list[Part]

    def start(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> Part:
        """Start ``command`` in its own process group, its output appended to
        ``<log_dir>/<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, stopped as one
            )
        part = Part(name, command, log_path, process)
        self.parts.append(part)
        self.stack.callback(stop_part, part)
        return part


def stop_part(part: Part) -> None:
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


def run_logged(what: str, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
    """Run ``command`` to completion (15 min at most), its output in ``log``; raise
    :class:`ClusterError` with the log's tail if it fails."""
    with log.open("wb") as out:
        result = subprocess.run(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=900,
        )
    if result.returncode:
        raise ClusterError(f"{what} failed; log {log}:\n{log_tail(log)}")


def wait_until(what: str, ready: Callable[[], bool], parts: list[Part], timeout: float) -> None:
    """Poll ``ready`` until true; raise :class:`ClusterError` if one of ``parts`` exits
    or ``timeout`` seconds pass."""
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
