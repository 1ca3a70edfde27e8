"""Benchmark: e-mail throughput of ``SmtpSender`` over one reused SMTP connection.

A local aiosmtpd server that accepts and discards runs in a separate interpreter
(``python -m missiva.devtools.bench_deliver --serve``, so it does not compete with the sender
for the GIL), or in a thread for comparison. Messages
of about 20 KB (text + HTML + a PDF-sized attachment, built by ``missiva.composition.mime``) are
built before the clock starts; only the SMTP conversation is timed.

    python -m missiva.devtools.bench_deliver --messages 2000
"""

import argparse
import json
import random
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from missiva.composition.mime import build_email
from missiva.delivery.smtp_transport import SmtpSender, SmtpSettings

HOST = "127.0.0.1"
SENDER = "Missiva Bench <bench@missiva.example>"
ATTACHMENT_BYTES = 13_200  # base64 + text + HTML + headers: about 20 KB on the wire
POOL = 50  # distinct pre-built messages, sent in rotation


@dataclass
class DiscardHandler:
    """An aiosmtpd handler that accepts every message and keeps only counts."""

    messages: int = 0
    bytes: int = 0
    peers: set = field(default_factory=set)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.bytes += len(envelope.content or b"")
        self.peers.add(tuple(session.peer))
        return "250 OK discarded"

    def stats(self) -> dict[str, int]:
        return {"messages": self.messages, "bytes": self.bytes, "connections": len(self.peers)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start(handler: DiscardHandler) -> tuple[Any, int]:
    from aiosmtpd.controller import Controller

    port = _free_port()
    controller = Controller(handler, hostname=HOST, port=port, data_size_limit=0)
    controller.start()
    return controller, port


def _serve_stdio() -> None:
    """Server process: print the port, serve until stdin closes, print what was received."""
    handler = DiscardHandler()
    controller, port = _start(handler)
    cpu = _cpu_seconds()  # serving only, not the interpreter's start-up
    try:
        print(port, flush=True)
        sys.stdin.read()
    finally:
        controller.stop()
    print(json.dumps({**handler.stats(), "cpu_s": _cpu_seconds() - cpu}), flush=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _server_process() -> Iterator[tuple[int, dict[str, Any]]]:
    """A discarding SMTP server in its own interpreter; the dict gets its stats at exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "missiva.devtools.bench_deliver", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stats: dict[str, Any] = {}
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"the benchmark SMTP server did not start ({line!r})")
        yield int(line), stats
        report, _ = process.communicate(timeout=60)  # closes stdin: the server stops
        stats.update(json.loads(report))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def build_messages(count: int, attachment_bytes: int = ATTACHMENT_BYTES) -> list[bytes]:
    """``count`` distinct, realistic messages (deterministic content)."""
    rng = random.Random(20261103)  # noqa: S311 - filler bytes, not security
    attachment = rng.randbytes(attachment_bytes)
    date = datetime(2026, 11, 3, tzinfo=UTC)
    messages = []
    for i in range(count):
        messages.append(
            build_email(
                sender=SENDER,
                to_name=f"Customer {i}",
                to_address=f"customer{i}@example.com",
                subject="Il tuo estratto conto",
                text=f"Gentile cliente {i},\nin allegato il suo estratto conto.\n" * 8,
                html=f"<p>Gentile cliente {i},</p><p>in allegato il suo estratto conto.</p>" * 8,
                message_id=f"<bench-{i}@missiva.example>",
                date=date,
                attachments={"estratto-conto.pdf": attachment},
                headers={"X-Missiva-Communication-Id": f"bench-{i}"},
            )
        )
    return messages


def _send_all(port: int, messages: int, pool: list[bytes]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of this process for the whole SMTP session."""
    settings = SmtpSettings(host=HOST, port=port)
    started, cpu = time.perf_counter(), time.process_time()
    with SmtpSender(settings) as sender:
        for i in range(messages):
            sender.send("bench@missiva.example", f"customer{i}@example.com", pool[i % len(pool)])
    return time.perf_counter() - started, time.process_time() - cpu


def bench_deliver(
    messages: int = 2000, server: Literal["process", "thread"] = "process"
) -> dict[str, Any]:
    """Send ``messages`` through one ``SmtpSender`` connection; the measured rate."""
    if messages < 1:
        raise ValueError("messages must be at least 1")
    pool = build_messages(min(messages, POOL))
    if server == "thread":
        handler = DiscardHandler()
        controller, port = _start(handler)
        try:
            seconds, client_cpu = _send_all(port, messages, pool)
        finally:
            controller.stop()
        received = {**handler.stats(), "cpu_s": None}  # shares the client's process
    elif server == "process":
        with _server_process() as (port, received):
            seconds, client_cpu = _send_all(port, messages, pool)
    else:
        raise ValueError(f"server must be 'process' or 'thread', not {server!r}")
    if received["messages"] != messages:
        raise RuntimeError(f"sent {messages} messages but the server received {received}")
    sent_bytes = sum(len(pool[i % len(pool)]) for i in range(messages))
    result: dict[str, Any] = {
        "smtp_messages_per_s": round(messages / seconds, 1),
        "messages": messages,
        "message_bytes": round(sent_bytes / messages),
        "connections": received["connections"],
        "seconds": round(seconds, 3),
        "server": server,
        "client_cpu_s": round(client_cpu, 3),
        "server_cpu_s": None if received["cpu_s"] is None else round(received["cpu_s"], 3),
    }
    if received["cpu_s"]:  # what the two processes could do on two idle cores
        ceiling = messages / max(client_cpu, received["cpu_s"])
        result["cpu_ceiling_messages_per_s"] = round(ceiling, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve_stdio()
        return
    print(json.dumps(bench_deliver(args.messages, args.server)))


if __name__ == "__main__":
    main()
