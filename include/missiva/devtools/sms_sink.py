"""A local SMS provider that stores every message as a JSON file (demo and tests).

It speaks the API :mod:`missiva.channels.sms` sends to: ``POST /messages`` with
``{"to", "text", "reference"}`` and an ``Idempotency-Key`` header, answering
``201 {"id": ...}``. The id derives from the key, so a repeated key answers the same
id and stores nothing new (as a real provider de-duplicates).

It can be made to fail as a real provider does: ``sink.outage = True`` answers every
message ``503``; ``sink.failing_numbers`` holds numbers answered ``503`` for ever.
"""

import hashlib
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from missiva.files import write_atomic


class SmsSink(ThreadingHTTPServer):
    """The provider's HTTP server, with its failure switches."""

    outage: bool = False
    failing_numbers: frozenset[str] = frozenset()


def _handler(out: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server: SmsSink

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            key = self.headers.get("Idempotency-Key")
            if self.path != "/messages":
                return self._answer(404, {"error": f"no endpoint {self.path}"})
            try:
                message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                to, text = message["to"], message["text"]
            except (KeyError, TypeError, ValueError):
                return self._answer(400, {"error": "expected JSON with 'to' and 'text'"})
            if not key:
                return self._answer(400, {"error": "Idempotency-Key header required"})
            if self.server.outage or to in self.server.failing_numbers:
                return self._answer(503, {"error": "service unavailable"})
            message_id = "sms-" + hashlib.sha256(key.encode()).hexdigest()[:20]
            path = out / f"{message_id}.json"
            if not path.exists():
                received = {"id": message_id, "idempotency_key": key, "to": to, "text": text}
                received["reference"] = message.get("reference")
                received["received_at"] = datetime.now(UTC).isoformat()
                write_atomic(path, json.dumps(received, ensure_ascii=False, indent=2).encode())
            return self._answer(201, {"id": message_id, "status": "queued"})

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return None

    return Handler


def _server(host: str, port: int, out: Path) -> SmsSink:
    out.mkdir(parents=True, exist_ok=True)
    return SmsSink((host, port), _handler(out))


def start(host: str, port: int, out: Path) -> SmsSink:
    """Serve in a background thread; ``server.shutdown()`` ends it."""
    server = _server(host, port, out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_forever(host: str, port: int, out: Path) -> None:
    server = _server(host, port, out)
    print(f"SMS sink on {host}:{port}, storing messages in {out}", flush=True)
    server.serve_forever()
