"""Helpers for the auditor UI test: a ledger and archive with real content, and an
``airflow api-server`` subprocess serving the plugin.

The content comes from the core stages run without Airflow (as in
``tests/component/test_pipeline.py``): seeded core systems, extract, validate, compose and
deliver to a real SMTP server (aiosmtpd) and the print folder. :func:`add_demo_rows` adds
what one small run lacks and the demo ledger has: SMS and portal communications, a review
item, and suppressed or failed ones whose reasons quote phone numbers and addresses.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import httpx
from ledger_fixtures import fields
from support import ONBOARDING_RUN, REPO, compose_run, free_port, settings_for

from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools import smtp_sink
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.settings import Settings

JOINED_ON = date(2026, 11, 2)
RUN = ONBOARDING_RUN


@dataclass(frozen=True)
class Home:
    settings: Settings
    communications: list[Communication]

    def first(self, channel: str) -> Communication:
        return next(c for c in self.communications if c.status == "sent" and c.channel == channel)


def build_home(root: Path, customers: int = 12) -> Home:
    """A ``MISSIVA_HOME`` at ``root`` with one onboarding run's communications in it."""
    settings = settings_for(root)
    port = free_port()
    controller = smtp_sink.start("127.0.0.1", port, root / "mail")
    try:
        # the component tier's ``composed_run`` fixture, called directly: a plain helper here
        day = compose_run(
            settings, customers=customers, joined_on=JOINED_ON, run=RUN, chunk_size=50
        )
        chunks = day.chunks
        smtp = SmtpSettings("127.0.0.1", port, timeout=10)
        for chunk in chunks:
            deliver_stage(
                ONBOARDING, replace(RUN, task_id="deliver"), settings, chunk, lambda: smtp
            )
    finally:
        controller.stop()
    with Ledger(settings.ledger_url) as ledger:
        return Home(settings, ledger.communications())


#: contact data quoted in the reasons of :func:`add_demo_rows` (masked for a viewer)
QUOTED_PHONE = "+39 347 765 4321"
QUOTED_NATIONAL_PHONE = "347 111 2233"
QUOTED_EMAIL = "maria.rossi@example.org"


def add_demo_rows(settings: Settings) -> list[Communication]:
    """Communications of every kind one onboarding run lacks, recorded through the ledger
    (run id ``manual__demo``, customers ``C9000xx``)."""
    run = {"run_id": "manual__demo", "task_id": "deliver"}
    rows = [
        fields(9000_01, channel="sms", recipient="+393471234567", status="composed", **run),
        fields(9000_02, channel="portal", recipient="C900002", status="composed", **run),
        fields(
            9000_03, channel="email", recipient="c9000003@example.com", status="composed", **run
        ),
        fields(
            9000_04,
            status="suppressed",
            reason=f"sms: invalid phone number for IT ({QUOTED_PHONE} is not allocated); "
            f"email: {QUOTED_EMAIL} bounced",
            **run,
        ),
        fields(
            9000_05,
            channel="sms",
            recipient="+393471112233",
            status="failed",
            reason=f"provider refused {QUOTED_NATIONAL_PHONE} for IT",
            **run,
        ),
        fields(9000_06, status="quarantined", reason="malformed e-mail address", **run),
    ]
    with Ledger(settings.ledger_url) as ledger:
        for row in rows:
            ledger.add(**row)
        sms, review = rows[0]["communication_id"], rows[2]["communication_id"]
        ledger.transition(sms, "composed", "sending", task_id="deliver")
        ledger.transition(sms, "sending", "sent", provider_message_id="SM1")
        ledger.transition(review, "composed", "sending", task_id="deliver")
        ledger.transition(review, "sending", "review", reason="connection lost after the data")
        return [ledger.get(row["communication_id"]) for row in rows]


@dataclass(frozen=True)
class ApiServer:
    url: str
    passwords: dict[str, str]
    airflow_home: Path
    process: subprocess.Popen
    log: Path

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until ``/api/v2/monitor/health`` answers 200; raises with the server's log.

        Generous: on a loaded machine (shared CI runners) the start takes over a minute.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"api-server exited:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"api-server not healthy in {timeout}s:\n{self.log.read_text()[-4000:]}")


@contextmanager
def api_server(
    airflow_home: Path, missiva_home: Path, users: dict[str, str], apps: str = "core"
) -> Iterator[ApiServer]:
    """Start ``airflow api-server`` (``apps``) on a free port with the repo's plugins and
    simple auth users ``{name: role}`` (passwords ``<name>-pw``); the JWT secret is this
    process's ``AIRFLOW__API_AUTH__JWT_SECRET`` when set (its executor's workers then
    reach the execution API), else a fresh one.

    Yields at once (call :meth:`ApiServer.wait_healthy`); the server is always stopped.
    """
    passwords = {name: f"{name}-pw" for name in users}
    password_file = missiva_home / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    port = free_port()
    env = os.environ | {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get(
            "AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32)
        ),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "MISSIVA_HOME": str(missiva_home),
    }
    for name in ("MISSIVA_LEDGER_URL", "MISSIVA_ARCHIVE_URL", "AIRFLOW_CONN_MISSIVA_ARCHIVE"):
        env.pop(name, None)
    airflow = Path(sys.executable).with_name("airflow")
    log = missiva_home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(airflow), "api-server", "--apps", apps, "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers die with it
        )
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", passwords, airflow_home, process, log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn and its workers), then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
