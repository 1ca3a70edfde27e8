"""A local SMTP server that stores every message in a Maildir (demo and tests)."""

import mailbox
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def start(host: str, port: int, maildir: Path) -> Controller:
    """Start the server in a background thread; ``controller.stop()`` ends it."""
    maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(maildir, create=True)
    controller = Controller(Mailbox(str(maildir)), hostname=host, port=port)
    controller.start()
    return controller


def serve_forever(host: str, port: int, maildir: Path) -> None:
    controller = start(host, port, maildir)
    print(f"SMTP sink on {host}:{port}, storing mail in {maildir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()
