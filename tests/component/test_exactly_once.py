"""Exactly once, unknown outcomes included, against a real SMTP server that misbehaves at
a chosen phase (``faulty_smtp``) and workers killed with SIGKILL.

How far a send got decides: a worker killed before the data is resent once; a reply
lost after the data is ``review``, never resent, and the run report says so; a live
sender's lease is respected, an expired or dead one's taken over; a fallback owed by a
failure survives the worker dying right after it; ``missiva review`` settles the
unknown with who and why chained in the ledger.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from faulty_smtp import faulty_smtp

from missiva.cli import main
from missiva.delivery import leases
from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.journeys import ONBOARDING
from missiva.records.keys import fallback_base
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.records.send_progress import BEFORE_DATA, FALLBACK_OWED, Progress
from missiva.run_context import RunContext

RUN = RunContext(
    "onboarding", "manual__once", "deliver", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
#: a delivering worker in its own process; ``die_after`` = a status: SIGKILL itself
#: right after recording it
WORKER = """
import json, os, signal, sys
from datetime import datetime
from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.run_context import RunContext
from missiva.channels.sms import SmsSettings
from missiva.settings import Settings
run, port, sms_url, die_after = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
run = RunContext(**{**run, "interval_start": datetime.fromisoformat(run["interval_start"]),
                    "interval_end": datetime.fromisoformat(run["interval_end"])})
record = Ledger.transition
def transition(self, communication_id, expected, new, **kw):
    record(self, communication_id, expected, new, **kw)
    if new == die_after:
        os.kill(os.getpid(), signal.SIGKILL)
Ledger.transition = transition
smtp = SmtpSettings("127.0.0.1", port, timeout=120)
sms = SmsSettings(sms_url, "test-token")
dispatch.deliver_stage(ONBOARDING, run, Settings.from_env(), 0, lambda: smtp, sms=lambda: sms)
"""


def start_worker(port: int, sms_url: str, die_after: str = "-") -> subprocess.Popen:
    run = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(RUN).items()}
    argv = [sys.executable, "-c", WORKER, json.dumps(run), str(port), sms_url, die_after]
    return subprocess.Popen(argv, env=os.environ.copy())


def deliver(settings, port: int, sms, try_number: int, now: datetime | None = None) -> dict:
    smtp = SmtpSettings("127.0.0.1", port, timeout=10)
    retry = replace(RUN, try_number=try_number)
    return dispatch.deliver_stage(ONBOARDING, retry, settings, 0, lambda: smtp, sms=sms, now=now)


def emails(ledger: Ledger) -> dict[str, str]:
    """Recipient -> communication id of every e-mail."""
    return {
        c.recipient: c.communication_id for c in ledger.communications() if c.channel == "email"
    }


def test_a_reply_lost_after_the_data_is_review_never_resent(
    missiva_home, sms_provider, composed_run
):
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    with faulty_smtp("reply", at=2) as server:
        deliver(settings, server.port, sms, 1)
        deliver(settings, server.port, sms, 2)  # a retry of the task
    (lost,) = [c for c in ledger.communications() if c.status == "review"]
    assert lost.channel == "email" and lost.recipient == server.received[1]
    assert lost.reason.startswith("outcome unknown: SMTP connection lost after the data")
    received = Counter(server.received)
    assert set(received) == set(emails(ledger)) and max(received.values()) == 1
    assert ledger.send_progress([lost.communication_id]) == {}
    summary = summarize(ledger, "onboarding", RUN.run_id)
    assert summary.awaiting_review == [lost.communication_id]
    assert summary.as_dict()["awaiting_review"] == [lost.communication_id]
    (line,) = [x for x in summary.lines() if "AWAITING REVIEW" in x]
    assert "AWAITING REVIEW: 1 communication(s)" in line and RUN.run_id in line


def test_a_worker_killed_before_the_data_is_resent_once(missiva_home, sms_provider, composed_run):
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    with faulty_smtp("rcpt", at=3) as server:
        worker = start_worker(server.port, sms().base_url)
        assert server.stalled.wait(120), "the worker never reached the third RCPT"
        worker.kill()  # SIGKILL while the server holds its RCPT reply: no data left
        worker.wait()
        (held,) = [c for c in ledger.communications() if c.status == "sending"]
        assert ledger.send_progress([held.communication_id])[held.communication_id].stage == (
            BEFORE_DATA
        )
        deliver(settings, server.port, sms, 2)  # the retry: the dead worker's send is resent
    received = Counter(server.received)
    assert set(received) == set(emails(ledger)), "nothing lost"
    assert max(received.values()) == 1, "nothing sent twice"
    assert ledger.get(held.communication_id).status == "sent"
    assert not [c for c in ledger.communications() if c.status in ("review", "sending")]
    recovered = [e for e in ledger.events(held.communication_id) if e.kind == "composed"][-1]
    assert f":{worker.pid}:" in json.loads(recovered.detail)["reason"]  # whose send it was


def test_only_a_dead_or_expired_lease_is_taken_over(missiva_home, sms_provider, composed_run):
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    first, second = list(emails(ledger).values())[:2]
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    now = datetime.now(UTC)
    here = f"{socket.gethostname()}:{alive.pid}:onboarding/other/deliver#1"
    elsewhere = "another-host:4242:onboarding/other/deliver#1"
    for comm_id, owner in ((first, here), (second, elsewhere)):
        lease = Progress(BEFORE_DATA, owner, now + leases.LEASE)
        ledger.transition(comm_id, "composed", "sending", progress=lease)
    try:
        with faulty_smtp(None) as server:
            with pytest.raises(dispatch.SendInProgress, match="2 communication"):
                deliver(settings, server.port, sms, 2)
            assert [ledger.get(c).status for c in (first, second)] == ["sending", "sending"]
            alive.kill()  # the sender on this host dies: taken over at once
            alive.wait()
            with pytest.raises(dispatch.SendInProgress, match="1 communication"):
                deliver(settings, server.port, sms, 3)
            assert ledger.get(first).status == "sent" and ledger.get(second).status == "sending"
            expired = now + leases.LEASE + timedelta(seconds=1)  # the other host's lease ends
            deliver(settings, server.port, sms, 4, now=expired)
    finally:
        alive.kill()
    assert ledger.get(second).status == "sent"
    received = Counter(server.received)
    assert set(received) == set(emails(ledger)) and max(received.values()) == 1


def test_a_fallback_owed_survives_the_worker_dying_after_the_failure(
    missiva_home, sms_provider, composed_run
):
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    with faulty_smtp("refuse", at=1) as server:
        worker = start_worker(server.port, sms().base_url, die_after="failed")
        assert worker.wait(120) == -9, "killed right after recording the failure"
        (failed,) = [c for c in ledger.communications() if c.status == "failed"]
        owed = ledger.send_progress([failed.communication_id])[failed.communication_id]
        assert owed.stage == FALLBACK_OWED
        content = fallback_base(failed.idempotency_key)
        assert [c.channel for c in ledger.communications() if
                fallback_base(c.idempotency_key) == content] == ["email"]  # fmt: skip
        deliver(settings, server.port, sms, 2)
    attempts = [c for c in ledger.communications() if fallback_base(c.idempotency_key) == content]
    assert len(attempts) == 2 and attempts[0].channel == "email"
    fallback = attempts[1]
    assert fallback.channel in ("sms", "paper") and fallback.status == "sent"
    assert "fallback after email refused: recipient refused: 550" in fallback.route_reason
    assert ledger.send_progress([failed.communication_id]) == {}


def test_missiva_review_settles_with_who_and_why_and_resends_once(
    missiva_home, sms_provider, composed_run, capsys, unused_port
):
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    with faulty_smtp("reply", at=1) as server:
        deliver(settings, server.port, sms, 1)
        first = [c.communication_id for c in ledger.communications() if c.status == "review"]
        capsys.readouterr()
        assert main(["review", "list", "--run", RUN.run_id, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [r["communication_id"] for r in listed] == first
        assert listed[0]["reason"].startswith("outcome unknown")
        (lost,) = first
        before = Counter(server.received)[ledger.get(lost).recipient]
        why = ["--by", "maria.rossi", "--why", "not in the server log (queue ids m1-m9)"]
        down = ["review", "resolve", lost, "--resend", "--smtp", f"127.0.0.1:{unused_port}"]
        assert main(down + why) == 1, "the server is down: decided, not sent"
        assert "resend recorded but not sent yet" in capsys.readouterr().out
        assert ledger.get(lost).status == "composed"
        argv = ["review", "resolve", lost, "--resend", "--smtp", f"127.0.0.1:{server.port}"]
        argv += why
        assert main(argv) == 0, "the same command again, the server up"
        assert capsys.readouterr().out.strip() == f"{lost}: resend -> sent"
        assert main(argv) == 1, "no longer in review: not resent again"
        assert "is not awaiting review (it is sent)" in capsys.readouterr().out
    assert Counter(server.received)[ledger.get(lost).recipient] == before + 1
    kinds = [(e.kind, json.loads(e.detail)) for e in ledger.events(lost)]
    resolved = [d for k, d in kinds if k == "composed" and "resolved_by" in d]
    assert resolved == [resolved[0]] and resolved[0]["resolved_by"] == "maria.rossi"
    assert resolved[0]["why"] == "not in the server log (queue ids m1-m9)"
    assert [k for k, _ in kinds][-3:] == ["composed", "sending", "sent"]
    assert ledger.verify_chain() == []
    assert summarize(ledger, "onboarding", RUN.run_id).awaiting_review == []


def test_review_resolved_as_sent_or_failed_needs_a_reason(missiva_home, composed_run, capsys):
    settings = missiva_home
    composed_run(settings, customers=12, seed=9, run=RUN)
    ledger = Ledger(settings.ledger_url)
    one, other = list(emails(ledger).values())[:2]
    for comm_id in (one, other):  # handed over, then the worker vanished
        ledger.transition(comm_id, "composed", "sending")
        ledger.transition(comm_id, "sending", "review", reason="outcome unknown: test")
    assert main(["review", "resolve", one, "--sent", "--by", " ", "--why", "log"]) == 1
    assert "needs who decided" in capsys.readouterr().out
    assert ledger.get(one).status == "review"
    assert main(["review", "resolve", one, "--sent", "--by", "ops", "--why", "250 in log"]) == 0
    assert main(["review", "resolve", other, "--failed", "--by", "ops", "--why", "bounced"]) == 0
    sent, failed = ledger.get(one), ledger.get(other)
    assert sent.status == "sent" and sent.sent_at is not None
    assert sent.reason == "review: sent (ops: 250 in log)"
    assert failed.status == "failed" and failed.reason == "review: failed (ops: bounced)"
    assert ledger.verify_chain() == []


def test_a_sender_that_lost_its_lease_sends_no_data(missiva_home, sms_provider, composed_run):
    """A sender too slow for its lease (held at RCPT) finds, when the server is ready for
    the data, that another worker took the send over: it sends nothing and leaves the
    communication to its new holder."""
    settings, (sms, _) = missiva_home, sms_provider
    composed_run(settings, customers=24, seed=5, run=RUN)
    ledger = Ledger(settings.ledger_url)
    with faulty_smtp("rcpt", at=1) as server:
        slow = threading.Thread(target=deliver, args=(settings, server.port, sms, 1))
        slow.start()
        assert server.stalled.wait(60)
        (held,) = [c for c in ledger.communications() if c.status == "sending"]
        (progress,) = ledger.send_progress([held.communication_id]).values()
        ledger.transition(held.communication_id, "sending", "composed", held_by=progress.owner)
        taken = Progress(BEFORE_DATA, "other-host:7:onboarding/x/deliver#2", progress.lease_until)
        ledger.transition(held.communication_id, "composed", "sending", progress=taken)
        server.release.set()
        slow.join(60)
    assert not slow.is_alive()
    assert ledger.get(held.communication_id).status == "sending", "the new holder's"
    assert held.recipient not in server.received, "no data from the sender without lease"
    others = set(emails(ledger)) - {held.recipient}
    assert sorted(server.received) == sorted(others), "the rest sent once, on a new connection"
