"""The mail server and the SMS provider failing in each way they do, against the real
outbox (``deliver_stage``): a faulty first attempt, then the task's retries on healed
servers, then :func:`fault_checks.check` (zero duplicates at the servers, zero losses,
every record accounted for). Message 3 is the one a per-message fault hits."""

import socket

from fault_checks import check
from fault_runs import RUN, check_case, deliver, received, recover
from fault_servers import AFTER_DATA, BEFORE_DATA, DROP_AFTER_DATA, Hold

from missiva.records.ledger import Ledger

STALL = 3.0  # seconds a stalled reply waits: past the client's timeout (fault_runs)


#: what a sent-then-lost reply does today, fixed in the outbox separately
def run_case(case, settings, smtp, sms, *, expect_review=0):
    """The faulty attempt (already set up on the servers), recovery, the check."""
    first = deliver(settings, smtp.port, sms, 1)
    recover(settings, smtp, sms)
    return check_case(case, first, settings, smtp, sms, expect_review=expect_review)


def test_smtp_down(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        first = deliver(settings, bound_not_listening.getsockname()[1], sms, 1)
    assert first == "raised DeliveryHeld"
    assert not smtp.received
    recover(settings, smtp, sms)
    check("smtp-down", first, Ledger(settings.ledger_url), (RUN.dag_id, RUN.run_id),
          received(settings, smtp, sms))  # fmt: skip


def test_smtp_421(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    smtp.closing_after = 3
    row = run_case("smtp-421", settings, smtp, sms)
    assert row.first == "raised DeliveryHeld" and row.statuses["sent"] > 3


def test_smtp_550(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    emails = [c for c in Ledger(settings.ledger_url).communications() if c.channel == "email"]
    smtp.refuse = {emails[0].recipient, emails[2].recipient}
    row = run_case("smtp-550", settings, smtp, sms)
    assert row.statuses["failed"] == 2
    ledger = Ledger(settings.ledger_url)
    for refused in emails[0], emails[2]:
        assert "550" in ledger.get(refused.communication_id).reason


def test_smtp_timeout_before_data(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    smtp.holds = {3: Hold(BEFORE_DATA, STALL)}
    row = run_case("smtp-timeout-before-data", settings, smtp, sms)
    assert row.first == "raised DeliveryHeld"


def test_smtp_timeout_after_data(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    smtp.holds = {3: Hold(AFTER_DATA, STALL)}
    run_case("smtp-timeout-after-data", settings, smtp, sms, expect_review=1)


def test_smtp_drop_after_data(sqlite_day, smtp, sms):
    settings = sqlite_day.restore()
    smtp.holds = {3: Hold(DROP_AFTER_DATA, 0)}
    run_case("smtp-drop-after-data", settings, smtp, sms, expect_review=1)


def test_sms_429(sqlite_day, smtp, sms):
    """429 with Retry-After to each message's first attempt: the adapter's backoff
    sends every SMS in the first run."""
    settings = sqlite_day.restore()
    sms.status, sms.failing_attempts = 429, 1
    row = run_case("sms-429", settings, smtp, sms)
    assert row.first == "ok" and min(sms.attempts.values()) >= 2


def test_sms_500(sqlite_day, smtp, sms):
    """500 to everything in the first run: the SMS channel is held, the retry sends."""
    settings = sqlite_day.restore()
    sms.status, sms.failing_attempts = 500, 1_000
    row = run_case("sms-500", settings, smtp, sms)
    assert row.first == "raised DeliveryHeld"


def test_sms_timeout(sqlite_day, smtp, sms):
    """The provider takes each first attempt but answers too late: the retry carries the
    same Idempotency-Key, so the provider keeps one message."""
    settings = sqlite_day.restore()
    sms.stall = STALL
    run_case("sms-timeout", settings, smtp, sms)
    assert min(sms.attempts.values()) >= 2  # each SMS was sent again, kept once


def test_sms_reset(sqlite_day, smtp, sms):
    """The provider takes each first attempt, then resets the connection (no answer)."""
    settings = sqlite_day.restore()
    sms.reset = True
    row = run_case("sms-reset", settings, smtp, sms)
    assert row.first == "ok" and min(sms.attempts.values()) >= 2
