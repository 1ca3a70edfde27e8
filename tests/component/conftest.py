"""Shared fixtures for the unit tests: a real in-process SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from support import ComposedRun, compose_run, free_port

if TYPE_CHECKING:
    from missiva.channels.sms import SmsSettings


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it (``content``: the DATA bytes, un-dot-stuffed)."""

    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that records every session and message.

    - ``refuse``: recipients answered at RCPT with ``550 5.1.1 <address>: Recipient
      address rejected: User unknown`` (echoing the address, as Postfix does);
    - ``fail_data_after``: after that many accepted messages, DATA answers with a
      temporary ``451`` (a server going away in the middle of a batch).
    """

    refuse: set[str] = field(default_factory=set)
    fail_data_after: int | None = None
    messages: list[Received] = field(default_factory=list)
    ehlo_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self._lock:
            self.ehlo_count += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.fail_data_after is not None and len(self.messages) >= self.fail_data_after:
                return "451 4.3.0 temporarily unavailable, try again later"
            number = len(self.messages) + 1
            self.messages.append(
                Received(
                    peer=tuple(session.peer),
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    content=envelope.content,
                )
            )
        return f"250 OK queued as Q{number:05d}"

    @property
    def sessions(self) -> set[tuple[str, int]]:
        """Distinct client connections that delivered at least one message."""
        return {m.peer for m in self.messages}


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


@contextmanager
def closed_port() -> Iterator[int]:
    """A localhost port that refuses connections: bound (so nobody else gets it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A localhost port with no server behind it (a "down" SMTP server)."""
    with closed_port() as port:
        yield port


@pytest.fixture
def free_tcp_port() -> int:
    """A localhost port that was free a moment ago, for a server the test starts."""
    return free_port()


@pytest.fixture(scope="session")
def closed_port_factory() -> Callable[[], AbstractContextManager[int]]:
    """``with closed_port_factory() as port:`` for fixtures of any scope."""
    return closed_port


@contextmanager
def running_smtp_server(
    handler: RecordingHandler | None = None, *, smtputf8: bool = False, **options: Any
) -> Iterator[SmtpServer]:
    """Start a real SMTP server on a free localhost port (offering SMTPUTF8 if asked);
    stop it on exit. ``options`` go to aiosmtpd's server (e.g. ``authenticator`` and
    ``auth_required``)."""
    handler = handler or RecordingHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8, **options
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def smtp_server_factory() -> Callable[..., AbstractContextManager[SmtpServer]]:
    """``with smtp_server_factory() as server:`` for fixtures of any scope."""
    return running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server for one test, recording what it receives."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def missiva_home(tmp_path, monkeypatch):
    """Settings whose state lives in ``tmp_path``, also for subprocesses (via MISSIVA_HOME)."""
    from missiva.settings import Settings

    monkeypatch.setenv("MISSIVA_HOME", str(tmp_path))
    for name in ("MISSIVA_LEDGER_URL", "MISSIVA_ARCHIVE_URL", "MISSIVA_PRINT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


@pytest.fixture
def sms_provider(tmp_path) -> Iterator[tuple[Callable[[], SmsSettings], Path]]:
    """A local SMS provider (the demo sink): the settings to reach it, and the folder
    holding one JSON file per message it accepted."""
    from missiva.channels.sms import SmsSettings
    from missiva.devtools import sms_sink

    port, out = free_port(), tmp_path / "sms-received"
    server = sms_sink.start("127.0.0.1", port, out)
    settings = SmsSettings(f"http://127.0.0.1:{port}", "test-token")
    try:
        yield (lambda: settings), out
    finally:
        server.shutdown()


@dataclass
class ScriptedSmsProvider:
    """An SMS provider whose answers a test chooses: HTTP ``status_for`` an idempotency
    key, else ``default_status`` (201 accepts and records the message in ``accepted``).
    A test double for provider errors the demo sink never gives; ``settings`` reaches it
    with a single attempt per message."""

    port: int = 0
    default_status: int = 201
    status_for: dict[str, int] = field(default_factory=dict)
    accepted: list[dict] = field(default_factory=list)

    def settings(self) -> SmsSettings:
        from missiva.channels.base import RetryPolicy
        from missiva.channels.sms import SmsSettings

        return SmsSettings(
            f"http://127.0.0.1:{self.port}", "test-token", retry=RetryPolicy(max_attempts=1)
        )


@pytest.fixture
def scripted_sms_provider() -> Iterator[ScriptedSmsProvider]:
    provider = ScriptedSmsProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = self.headers["Idempotency-Key"]
            status = provider.status_for.get(key, provider.default_status)
            if status == 201:
                provider.accepted.append({**message, "idempotency_key": key})
                answer = {"id": f"sms-{len(provider.accepted)}"}
            else:
                answer = {"error": "number not reachable" if status < 500 else "unavailable"}
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield provider
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def composed_run() -> Callable[..., ComposedRun]:
    """``composed_run(settings, customers=24, seed=5)``: seed the demo core DB, then run
    extract, validate and compose for one run, without Airflow (see
    ``support.compose_run`` for the options: journey, run, chunk size, no re-seed).
    Session-scoped (it holds no state), so module-scoped scenarios can use it too."""
    return compose_run
