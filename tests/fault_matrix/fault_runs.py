"""How the fault matrix runs delivery: in this process (the faulty attempt and the
recovery, as a task and its retries would) or in a worker process it SIGKILLs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from fault_checks import Received, Row, check, printed
from fault_servers import FaultySms, FaultySmtp

from missiva.channels.base import RetryPolicy
from missiva.channels.sms import SmsSettings
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.records.ledger import Ledger
from missiva.run_context import RunContext
from missiva.settings import Settings

#: the onboarding run every case delivers (the cohort that joined on 2026-11-02)
RUN = RunContext(
    "onboarding", "manual__faults", "compose", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
#: SMS retries within a case's seconds (the adapter's backoff, made short)
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, max_total=10)
SMTP_TIMEOUT = 1.5  # seconds: what the "timeout" faults stall past
WORKER = Path(__file__).with_name("fault_worker.py")
KILL_WAIT = 120.0


def smtp_settings(port: int, timeout: float = SMTP_TIMEOUT) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, timeout=timeout)


def sms_settings(url: str) -> SmsSettings:
    return SmsSettings(url, "test-token", timeout=1.0, retry=FAST_RETRY)


def deliver(settings: Settings, smtp_port: int, sms: FaultySms, try_number: int) -> str:
    """One deliver task in this process: ``ok`` or what it raised."""
    from missiva.delivery.outbox import deliver_stage
    from missiva.journeys import ONBOARDING

    run = replace(RUN, task_id="deliver", try_number=try_number)
    smtp, text = smtp_settings(smtp_port), sms_settings(f"http://127.0.0.1:{sms.port}")
    try:
        deliver_stage(ONBOARDING, run, settings, 0, lambda: smtp, sms=lambda: text)
    except Exception as exc:
        return f"raised {type(exc).__name__}"
    return "ok"


def recover(settings: Settings, smtp: FaultySmtp, sms: FaultySms, first_try: int = 2) -> None:
    """The servers healed, the task's retries: until one ends without holding anything
    back (at most three)."""
    smtp.heal()
    sms.heal()
    for try_number in range(first_try, first_try + 3):
        if deliver(settings, smtp.port, sms, try_number) == "ok":
            return


def kill_worker(
    settings: Settings, smtp: FaultySmtp, sms: FaultySms, at: Callable[[], bool]
) -> str:
    """Start a delivering worker process, SIGKILL it once ``at()`` is true (the fault
    point is reached); ``SIGKILLed`` (or why it ended by itself: a test failure)."""
    env = {
        **os.environ,
        "MISSIVA_HOME": str(settings.home),
        "MISSIVA_LEDGER_URL": settings.ledger_url,
        "MISSIVA_ARCHIVE_URL": settings.archive_url,
        "MISSIVA_CONTACT_POLICY": str(settings.contact_policy),
        "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path]),
    }
    command = [sys.executable, str(WORKER), str(smtp.port), f"http://127.0.0.1:{sms.port}", "1"]
    worker = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + KILL_WAIT
    while not at():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"the worker never reached the fault point ({worker.poll()})")
        time.sleep(0.02)
    worker.kill()  # SIGKILL: nothing after this point runs in it
    worker.wait()
    return "SIGKILLed"


def received(settings: Settings, smtp: FaultySmtp, sms: FaultySms) -> Received:
    return Received(smtp.received_ids(), sms.received_ids(), printed(settings))


def check_case(
    case: str, first: str, settings: Settings, smtp: FaultySmtp, sms: FaultySms, *, expect_review=0
) -> Row:
    """The shared checker on what the ledger and the servers hold after recovery."""
    ledger, got = Ledger(settings.ledger_url), received(settings, smtp, sms)
    return check(case, first, ledger, (RUN.dag_id, RUN.run_id), got, expect_review=expect_review)
