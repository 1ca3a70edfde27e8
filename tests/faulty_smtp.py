"""A real SMTP server (plain ESMTP over TCP, no TLS) that misbehaves at a chosen phase of
one message, for the exactly-once tests.

``phase``: ``"rcpt"`` holds its reply to RCPT TO of message ``at`` (the sender waits
before any data left: kill it there), ``"reply"`` reads message ``at`` in full and
closes the connection without replying (the reply is lost after the data), ``"refuse"``
answers 550 to its RCPT TO (a permanent refusal). Every other message is accepted.
``received`` lists the recipient of each message the server got in full, duplicates
included.
"""

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Session(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        faults: FaultySmtp = self.server.faults  # type: ignore[attr-defined]
        self.reply("220 faulty ESMTP")
        ordinal, recipient = 0, ""
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 faulty")
            elif verb == b"MAIL":
                ordinal = faults.next_message()
                self.reply("250 sender ok")
            elif verb == b"RCPT":
                recipient = line.split(b":", 1)[1].strip().strip(b"<>").decode()
                if faults.hits(ordinal, "rcpt"):
                    faults.stalled.set()
                    faults.release.wait(120)
                if faults.hits(ordinal, "refuse"):
                    self.reply("550 5.1.1 no such mailbox")
                    continue
                self.reply("250 recipient ok")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                while (data := self.rfile.readline()) != b".\r\n":
                    if not data:
                        return  # the data never ended: discarded, as a real server does
                faults.got(recipient)
                if faults.hits(ordinal, "reply"):
                    return  # the connection closes: the reply is lost
                self.reply(f"250 queued as m{ordinal}")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:  # RSET, NOOP
                self.reply("250 ok")


class FaultySmtp:
    def __init__(self, phase: str | None, at: int) -> None:
        self.phase, self.at = phase, at
        self.received: list[str] = []
        self.stalled, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._messages = 0
        self.port = 0

    def next_message(self) -> int:
        with self._lock:
            self._messages += 1
            return self._messages

    def hits(self, ordinal: int, phase: str) -> bool:
        return self.phase == phase and ordinal == self.at

    def got(self, recipient: str) -> None:
        with self._lock:
            self.received.append(recipient)


@contextmanager
def faulty_smtp(phase: str | None, at: int = 1) -> Iterator[FaultySmtp]:
    faults = FaultySmtp(phase, at)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Session)
    server.daemon_threads = True
    server.faults = faults  # type: ignore[attr-defined]
    faults.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield faults
    finally:
        faults.release.set()
        server.shutdown()
        server.server_close()
