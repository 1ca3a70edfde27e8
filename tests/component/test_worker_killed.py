"""A delivery worker killed mid-batch (SIGKILL, while the SMTP server holds its reply to
the third message): the retry sends every other communication exactly once, never
resends the message whose outcome is unknown (it is flagged ``review``), and the run
still accounts for every record. Zero duplicates, zero losses."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from support import free_port

from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.run_context import RunContext

RUN = RunContext(
    "onboarding", "manual__killed", "deliver", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
WORKER = """
import json, sys
from datetime import datetime
from missiva.delivery import outbox as dispatch
from missiva import flow as pipeline
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.journeys import ONBOARDING
from missiva.run_context import RunContext
from missiva.channels.sms import SmsSettings
from missiva.settings import Settings
run = json.loads(sys.argv[1])
run = RunContext(**{**run, "interval_start": datetime.fromisoformat(run["interval_start"]),
                    "interval_end": datetime.fromisoformat(run["interval_end"])})
smtp = SmtpSettings("127.0.0.1", int(sys.argv[2]), timeout=120)
sms = SmsSettings(sys.argv[3], "test-token")
dispatch.deliver_stage(ONBOARDING, run, Settings.from_env(), 0, lambda: smtp, sms=lambda: sms)
"""


class StallingHandler:
    """Accepts every message; holds the reply to message ``stall_at`` (the worker waits)."""

    def __init__(self, stall_at: int | None) -> None:
        self.stall_at = stall_at
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients += envelope.rcpt_tos
        if len(self.recipients) == self.stall_at:
            await asyncio.sleep(120)
        return "250 OK"


def test_killed_worker_neither_duplicates_nor_loses(missiva_home, sms_provider, composed_run):
    sms, _ = sms_provider
    settings = missiva_home
    assert composed_run(settings, customers=24, seed=5, run=RUN).chunks == [0]
    ledger = Ledger(settings.ledger_url)
    emails = {c.recipient for c in ledger.communications() if c.channel == "email"}
    assert len(emails) > 5

    handler = StallingHandler(stall_at=3)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        run = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(RUN).items()}
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(run), str(port), sms().base_url],
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 120
        while len(handler.recipients) < 3 and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker ended before it was killed"
            time.sleep(0.05)
        worker.kill()  # SIGKILL: no cleanup, no ledger update after the send
        worker.wait()
        statuses = Counter(c.status for c in ledger.communications() if c.channel == "email")
        assert statuses["sending"] == 1 and statuses["sent"] == 2

        handler.stall_at = None  # the retry, on a healthy server
        retry = replace(RUN, try_number=2)
        smtp = SmtpSettings("127.0.0.1", port, timeout=10)
        dispatch.deliver_stage(ONBOARDING, retry, settings, 0, lambda: smtp, sms=sms)
        again = replace(RUN, try_number=3)
        dispatch.deliver_stage(ONBOARDING, again, settings, 0, lambda: smtp, sms=sms)
    finally:
        controller.stop()

    received = Counter(handler.recipients)
    assert set(received) == emails, "every e-mail reached the server: nothing lost"
    assert max(received.values()) == 1, "no e-mail reached the server twice"
    (in_doubt,) = [c for c in ledger.communications() if c.status == "review"]
    assert in_doubt.channel == "email" and "outcome unknown" in in_doubt.reason
    assert all(
        c.status in ("sent", "suppressed", "quarantined", "review") for c in ledger.communications()
    )
    summary = summarize(ledger, "onboarding", "manual__killed")
    assert summary.statuses["review"] == 1 and summary.accounted == summary.extracted


def test_interrupted_print_is_sent_again_once(
    missiva_home, smtp_server, sms_provider, composed_run
):
    settings = missiva_home
    composed_run(settings, customers=12, seed=9, run=RUN)
    ledger = Ledger(settings.ledger_url)
    letter = next(c for c in ledger.communications() if c.channel == "paper")
    ledger.transition(letter.communication_id, "composed", "sending")  # killed mid-print
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    sms = sms_provider[0]
    dispatch.deliver_stage(
        ONBOARDING, replace(RUN, try_number=2), settings, 0, lambda: smtp, sms=sms
    )
    assert ledger.get(letter.communication_id).status == "sent"
    folder = settings.print_dir / "onboarding" / "2026-11-02"
    assert len(list(folder.glob(f"{letter.communication_id}*.pdf"))) == 1


class Killed(BaseException):
    """The worker dies: nothing after this point runs."""


def test_interrupted_sms_is_sent_again_with_the_same_key(
    missiva_home, smtp_server, sms_provider, composed_run, monkeypatch
):
    """The SMS provider de-duplicates on the Idempotency-Key: the retry resends, the
    customer gets one SMS."""
    sms, received = sms_provider
    settings = missiva_home
    composed_run(settings, customers=40, seed=7, run=RUN)
    ledger = Ledger(settings.ledger_url)
    text = next(c for c in ledger.communications() if c.channel == "sms")
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    handed_over: dict = {}
    record = Ledger.transition

    def killed_before_recording(self, communication_id, expected, new, **fields):
        if communication_id == text.communication_id and new == "sent":
            handed_over.update(fields)
            raise Killed
        return record(self, communication_id, expected, new, **fields)

    with monkeypatch.context() as patch, pytest.raises(Killed):
        patch.setattr(Ledger, "transition", killed_before_recording)
        dispatch.deliver_stage(ONBOARDING, RUN, settings, 0, lambda: smtp, sms=sms)
    assert ledger.get(text.communication_id).status == "sending"
    # the retry runs in this same process: the attempt that held the lease is over
    dispatch.deliver_stage(
        ONBOARDING, replace(RUN, try_number=2), settings, 0, lambda: smtp, sms=sms
    )
    again = ledger.get(text.communication_id)
    assert again.status == "sent"
    assert again.provider_message_id == handed_over["provider_message_id"]
    (stored,) = [json.loads(p.read_text()) for p in received.glob("*.json")
                 if json.loads(p.read_text())["reference"] == text.communication_id]  # fmt: skip
    assert stored["idempotency_key"] == text.idempotency_key and stored["to"] == text.recipient
