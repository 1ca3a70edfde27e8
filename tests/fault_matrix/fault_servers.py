"""Real servers that fail on cue: an SMTP server and an SMS provider (the HTTP API of
:mod:`missiva.channels.sms`) whose every fault a test chooses, per message and phase.

Both are plain socket servers speaking their protocol for real (the SMTP one writes
every reply itself, so it can stop between any two of them); both count what they
*received*, which is what a recipient would get: the SMTP server a message once its
end-of-data dot arrived, whatever it answers after; the SMS provider a message once per
``Idempotency-Key`` (as a real provider de-duplicates), whatever happens to its reply.
"""

from __future__ import annotations

import email
import hashlib
import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: how long a held connection waits for the test before going on by itself
HOLD_LIMIT = 60.0

#: SMTP fault points, each for one message (numbered from 1 by MAIL FROM, across connections)
BEFORE_DATA = "before_data"  # holds its RCPT reply
DURING_DATA = "during_data"  # holds after reading the first part of the message
AFTER_DATA = "after_data"  # the message received; holds its reply
DROP_AFTER_DATA = "drop_after_data"  # the message received; closes without a reply


@dataclass
class Hold:
    """Where one message stops, for how long (``seconds``; ``None``: until released)
    and what runs there (``action``, e.g. ending the ledger's connections)."""

    point: str
    seconds: float | None = None
    action: Callable[[], None] | None = None


@dataclass
class FaultySmtp:
    """An SMTP server on 127.0.0.1 with its faults: ``refuse`` answers ``550`` at RCPT;
    ``closing_after`` accepted messages it answers ``421`` and closes every connection;
    ``holds`` stops message *n* at a fault point (``reached`` is set when one is)."""

    refuse: set[str] = field(default_factory=set)
    closing_after: int | None = None
    holds: dict[int, Hold] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _transactions: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    def start(self) -> FaultySmtp:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._listener is not None:
            self._listener.close()

    def heal(self) -> None:
        """The server works again (refusals stay: an unknown mailbox stays unknown)."""
        self.closing_after, self.holds = None, {}
        self.release.set()

    def received_ids(self) -> Counter:
        """Messages received, by their ``X-Missiva-Communication-Id``."""
        return Counter(
            email.message_from_bytes(m, policy=default_policy)["X-Missiva-Communication-Id"]
            for m in self.received
        )

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _closing(self) -> bool:
        return self.closing_after is not None and len(self.received) >= self.closing_after

    def _hold(self, number: int, point: str) -> Hold | None:
        """Stop here if message ``number`` is held at ``point``."""
        hold = self.holds.get(number)
        if hold is None or hold.point != point:
            return None
        if hold.action is not None:
            hold.action()
        self.reached.set()
        if hold.seconds != 0:
            self.release.wait(hold.seconds or HOLD_LIMIT)
        return hold

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:

            def reply(text: str) -> None:
                conn.sendall(text.encode() + b"\r\n")

            try:
                if self._closing():
                    return reply("421 4.3.2 service shutting down")
                reply("220 faulty-smtp ready")
                self._session(lines, reply, conn)
            except OSError:
                return

    def _session(self, lines, reply, conn: socket.socket) -> None:
        number = 0
        while line := lines.readline():
            verb = line[:4].upper()
            if self._closing() and verb not in (b"QUIT", b"EHLO", b"HELO"):
                reply("421 4.3.2 service shutting down")
                return
            if verb == b"EHLO":
                reply("250-faulty-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb == b"MAIL":
                with self._lock:
                    self._transactions += 1
                    number = self._transactions
                reply("250 OK")
            elif verb == b"RCPT":
                address = line.split(b":", 1)[1].strip().split(b">")[0].lstrip(b"<").decode()
                if address in self.refuse:
                    reply("550 5.1.1 no such user")
                    continue
                self._hold(number, BEFORE_DATA)
                reply("250 OK")
            elif verb == b"DATA":
                reply("354 end with <CRLF>.<CRLF>")
                message = self._read_data(lines, number)
                if message is None:
                    return  # the client went away before the end of the data
                with self._lock:
                    self.received.append(message)
                if self._hold(number, DROP_AFTER_DATA):
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                self._hold(number, AFTER_DATA)
                reply(f"250 OK queued as Q{number:05d}")
            elif verb == b"QUIT":
                reply("221 bye")
                return
            else:  # HELO, RSET, NOOP
                reply("250 OK")

    def _read_data(self, lines, number: int) -> bytes | None:
        """The message up to its end-of-data dot (un-dot-stuffed), or ``None`` if the
        connection ends first."""
        body: list[bytes] = []
        while line := lines.readline():
            if line in (b".\r\n", b".\n"):
                return b"".join(body)
            body.append(line[1:] if line.startswith(b".") else line)
            if len(body) == 1:
                self._hold(number, DURING_DATA)
        return None


@dataclass
class FaultySms:
    """An SMS provider (``POST /messages``) on 127.0.0.1 with its faults, by attempt of
    each ``Idempotency-Key``: ``status`` answers that HTTP status to the first
    ``failing_attempts`` attempts; ``stall`` (seconds) and ``reset`` accept the message,
    then hold the answer past the client's timeout or reset the connection."""

    status: int | None = None
    failing_attempts: int = 1
    stall: float | None = None
    reset: bool = False
    stored: dict[str, dict] = field(default_factory=dict)
    attempts: Counter = field(default_factory=Counter)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FaultySms:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _sms_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def heal(self) -> None:
        self.status, self.stall, self.reset = None, None, False

    def received_ids(self) -> Counter:
        """Messages received (once per key), by their reference (the communication id)."""
        return Counter(m["reference"] for m in self.stored.values())


def _sms_handler(provider: FaultySms) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            key = self.headers["Idempotency-Key"]
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            provider.attempts[key] += 1
            failing = provider.attempts[key] <= provider.failing_attempts
            if provider.status is not None and failing:
                return self._answer(provider.status, {"error": "try later"}, {"Retry-After": "0"})
            message_id = "sms-" + hashlib.sha256(key.encode()).hexdigest()[:20]
            provider.stored.setdefault(key, message)
            if provider.reset and failing:  # RST: the answer never leaves
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return None
            if provider.stall is not None and failing:
                threading.Event().wait(provider.stall)
            try:
                return self._answer(201, {"id": message_id, "status": "queued"})
            except OSError:
                return None  # the client gave up waiting

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return None

    return Handler
