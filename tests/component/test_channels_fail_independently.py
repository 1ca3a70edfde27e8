"""Channels fail independently (issue 13, item 4), against a real SMTP server and the
local SMS provider made to fail.

One module-scoped scenario, the way a deliver task and its retries would run:

1. compose a day where several customers take SMS;
2. the SMS provider is down (503 to everything)       -> e-mails and letters go out,
   every SMS is held back, the task fails naming the SMS channel;
3. the provider is back but one number answers 503 for ever -> the other SMS go out,
   only that customer's is held back, named;
4. that number recovers                                -> its SMS goes out; letters batched.

At every step nothing reached anyone twice.
"""

from __future__ import annotations

import email
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support import ONBOARDING_RUN, free_port, move_to_sms, settings_for

from missiva.channels.base import RetryPolicy
from missiva.channels.sms import SmsSettings
from missiva.delivery.holds import DeliveryHeld, Holds
from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools import sms_sink
from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.print_stage import print_stage
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.settings import Settings


@dataclass
class Step:
    """What one deliver attempt raised and left behind."""

    error: BaseException | None
    statuses: dict[str, str]
    emails: Counter
    sms: Counter


@dataclass
class Scenario:
    settings: Settings
    ledger: Ledger
    stuck: Communication  # the SMS whose number keeps failing
    steps: dict[str, Step] = field(default_factory=dict)
    batches: list[dict] = field(default_factory=list)

    def comms(self) -> list[Communication]:
        return self.ledger.for_scope("onboarding", "2026-11-02")

    def channel_of(self) -> dict[str, str]:
        return {c.communication_id: c.channel for c in self.comms()}


def _received(server: Any, sms_dir: Path) -> tuple[Counter, Counter]:
    emails = Counter(
        email.message_from_bytes(m.content, policy=default)["X-Missiva-Communication-Id"]
        for m in server.handler.messages
    )
    sms = Counter(json.loads(p.read_text())["reference"] for p in sms_dir.glob("*.json"))
    return emails, sms


@pytest.fixture(scope="module")
def sc(tmp_path_factory, composed_run, smtp_server_factory) -> Scenario:
    root = tmp_path_factory.mktemp("independent")
    settings = settings_for(root)
    seed(settings.core_db, customers=30, seed=5, joined_on=date(2026, 11, 2))
    move_to_sms(settings.core_db)
    assert composed_run(settings, run=ONBOARDING_RUN).chunks == [0]
    ledger = Ledger(settings.ledger_url)
    sms_comms = [c for c in ledger.communications() if c.channel == "sms"]
    assert len(sms_comms) > Holds.limit  # an outage holds the channel, not each SMS
    sms_dir = root / "sms-received"
    sink = sms_sink.start("127.0.0.1", free_port(), sms_dir)
    fast = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
    sms = SmsSettings(f"http://127.0.0.1:{sink.server_port}", "test-token", retry=fast)
    sc = Scenario(settings, ledger, stuck=sms_comms[2])
    with smtp_server_factory() as server:
        smtp = SmtpSettings(server.host, server.port, timeout=10)

        def deliver(name: str, try_number: int) -> None:
            run = replace(ONBOARDING_RUN, task_id="deliver", try_number=try_number)
            error = None
            try:
                deliver_stage(ONBOARDING, run, settings, 0, lambda: smtp, sms=lambda: sms)
            except DeliveryHeld as exc:
                error = exc
            statuses = {c.communication_id: c.status for c in sc.comms()}
            sc.steps[name] = Step(error, statuses, *_received(server, sms_dir))

        try:
            sink.outage = True
            deliver("outage", 1)
            sink.outage, sink.failing_numbers = False, frozenset({sc.stuck.recipient})
            deliver("one number failing", 2)
            sink.failing_numbers = frozenset()
            deliver("recovered", 3)
            sc.batches = print_stage(ONBOARDING, replace(ONBOARDING_RUN, task_id="print"), settings)
        finally:
            sink.shutdown()
    return sc


def _by_channel(sc: Scenario, step: Step) -> dict[str, set[str]]:
    channels = sc.channel_of()
    out: dict[str, set[str]] = {}
    for comm_id, status in step.statuses.items():
        if channels[comm_id]:
            out.setdefault(channels[comm_id], set()).add(status)
    return out


def _nothing_twice(step: Step) -> None:
    assert set(step.emails.values()) <= {1} and set(step.sms.values()) <= {1}


def test_an_sms_outage_holds_back_only_the_sms(sc: Scenario) -> None:
    step = sc.steps["outage"]
    assert isinstance(step.error, DeliveryHeld)
    assert "sms:" in str(step.error) and "503" in str(step.error)
    assert _by_channel(sc, step) == {"email": {"sent"}, "paper": {"sent"}, "sms": {"composed"}}
    assert not step.sms
    sent_emails = {i for i, s in step.statuses.items() if s == "sent"} & set(step.emails)
    assert len(step.emails) == len(sent_emails) > 0
    _nothing_twice(step)


def test_one_failing_number_holds_back_only_its_sms(sc: Scenario) -> None:
    step = sc.steps["one number failing"]
    assert isinstance(step.error, DeliveryHeld)
    assert sc.stuck.communication_id in str(step.error)
    assert "1 communication(s) held back" in str(step.error)
    sms = {i: s for i, s in step.statuses.items() if sc.channel_of()[i] == "sms"}
    assert sms.pop(sc.stuck.communication_id) == "composed"
    assert set(sms.values()) == {"sent"}
    assert set(step.sms) == set(sms)
    assert step.emails == sc.steps["outage"].emails  # the retry resent no e-mail
    _nothing_twice(step)


def test_what_was_held_goes_out_once_when_it_recovers(sc: Scenario) -> None:
    step = sc.steps["recovered"]
    assert step.error is None
    assert step.statuses[sc.stuck.communication_id] == "sent"
    assert step.sms[sc.stuck.communication_id] == 1
    assert not {"composed", "sending"} & set(step.statuses.values())
    _nothing_twice(step)
    letters = [c for c in sc.comms() if c.channel == "paper" and c.status == "sent"]
    assert letters and sum(b["letters"] for b in sc.batches) == len(letters)
