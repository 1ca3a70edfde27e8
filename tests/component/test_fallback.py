"""A permanent refusal by the mail server: the e-mail is recorded failed with the server's
reason, the letter goes to paper instead (once), and the run still adds up."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime

from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.records.keys import fallback_key
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.records.store import open_store
from missiva.routing.rules import route
from missiva.run_context import RunContext

RUN = RunContext(
    "onboarding", "manual__fallback", "t", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip


def test_refused_email_falls_back_to_paper_once(missiva_home, smtp_server_factory, composed_run):
    settings = missiva_home
    chunks = composed_run(settings, customers=24, seed=3, run=RUN, chunk_size=50).chunks
    ledger = Ledger(settings.ledger_url)
    emails = [c for c in ledger.communications() if c.channel == "email"]
    victim = emails[0]

    with smtp_server_factory() as server:
        server.handler.refuse.add(victim.recipient)
        smtp = SmtpSettings(server.host, server.port, timeout=10)
        for _ in range(2):  # the second pass is a retry: nothing happens twice
            for chunk in chunks:
                dispatch.deliver_stage(ONBOARDING, RUN, settings, chunk, lambda: smtp)

    failed = ledger.get(victim.communication_id)
    assert failed.status == "failed" and "550" in failed.reason
    (fallback,) = ledger.by_keys([fallback_key(victim.idempotency_key, "paper")]).values()
    assert fallback.status == "sent" and fallback.channel == "paper"
    assert "fallback after email refused" in fallback.route_reason
    assert fallback.customer_id == victim.customer_id
    printed = settings.print_dir / "onboarding" / "2026-11-02" / f"{fallback.communication_id}.pdf"
    assert printed.read_bytes()[:5] == b"%PDF-"
    received = [m.rcpt_tos for m in server.handler.messages]
    assert (victim.recipient,) not in received
    assert len(received) == len(emails) - 1, "every other e-mail sent exactly once"

    summary = summarize(ledger, "onboarding", "manual__fallback")
    assert summary.fallbacks == {"email -> paper": 1}
    assert summary.accounted == summary.extracted


def test_a_fallback_lost_with_its_worker_is_made_by_the_retry_once(
    missiva_home, smtp_server_factory, composed_run
):
    """The worker recorded the refused e-mail ``failed`` and died before its fallback
    was in the ledger (the fault matrix kills a real one there, on Postgres): the retry
    falls back, and a further retry does not fall back again."""
    settings = missiva_home
    composed_run(settings, customers=24, seed=3, run=RUN)
    ledger = Ledger(settings.ledger_url)
    victim = next(c for c in ledger.communications() if c.channel == "email")
    ledger.transition(victim.communication_id, "composed", "sending")
    reason = "email refused: recipient refused: 550 no such user"
    ledger.transition(victim.communication_id, "sending", "failed", reason=reason)

    with smtp_server_factory() as server:
        smtp = SmtpSettings(server.host, server.port, timeout=10)
        for try_number in (2, 3):
            retry = replace(RUN, try_number=try_number)
            dispatch.deliver_stage(ONBOARDING, retry, settings, 0, lambda: smtp)

    (fallback,) = ledger.by_keys([fallback_key(victim.idempotency_key, "paper")]).values()
    assert fallback.status == "sent" and f"fallback after {reason}" in fallback.route_reason
    assert victim.recipient not in {r for m in server.handler.messages for r in m.rcpt_tos}
    summary = summarize(ledger, "onboarding", "manual__fallback")
    assert summary.fallbacks == {"email -> paper": 1}
    assert summary.accounted == summary.extracted


def test_a_hard_bounce_sends_the_next_communication_by_the_fallback(
    missiva_home, smtp_server_factory, composed_run
):
    import sqlite3

    from missiva.delivery.reports import ingest

    settings = missiva_home
    seed(settings.core_db, customers=12, seed=4, joined_on=date(2026, 11, 2))
    next_day = replace(
        RUN,
        run_id="manual__next",
        interval_start=datetime(2026, 11, 3, tzinfo=UTC),
        interval_end=datetime(2026, 11, 4, tzinfo=UTC),
    )
    ledger = Ledger(settings.ledger_url)
    with smtp_server_factory() as server:
        smtp = SmtpSettings(server.host, server.port, timeout=10)

        def run_day(run: RunContext) -> None:
            for chunk in composed_run(settings, run=run, chunk_size=50).chunks:
                dispatch.deliver_stage(ONBOARDING, run, settings, chunk, lambda: smtp)

        run_day(RUN)
        bounced = next(c for c in ledger.communications() if c.channel == "email")
        report = {"communication_id": bounced.communication_id, "event": "hard_bounce"}
        report["reason"] = "550 5.1.1 no such user"
        result = ingest(ledger, [report], message_id_domain=settings.message_id_domain)
        assert result.applied == 1
        with sqlite3.connect(settings.core_db) as core:  # the customer shows up the next day
            core.execute(
                "UPDATE customers SET joined_at = '2026-11-03 09:00:00' WHERE customer_id = ?",
                (bounced.customer_id,),
            )
        run_day(next_day)
    assert ledger.get(bounced.communication_id).status == "bounced"
    (again,) = [c for c in ledger.trace(bounced.customer_id) if c.business_key == "2026-11-03"]
    assert again.channel == "paper" and again.status == "sent"
    assert "hard-bounced before" in again.route_reason


def test_email_then_sms_refused_ends_on_paper_once(
    missiva_home, smtp_server_factory, scripted_sms_provider, composed_run
):
    """Each channel is tried once for the same content: e-mail refused, then SMS refused,
    then paper; never e-mail again, and a retry adds nothing."""
    settings = missiva_home
    chunks = composed_run(settings, customers=40, seed=3, run=RUN, chunk_size=50).chunks
    ledger = Ledger(settings.ledger_url)
    store = open_store(settings.archive_url)
    scripted_sms_provider.default_status = 422  # every number rejected
    sms = scripted_sms_provider.settings

    def sms_is_next(comm) -> bool:
        record = json.loads(store.get(comm.input_uri, comm.data_sha256))
        return route(record, ("sms", "paper"), ONBOARDING.purpose).channel == "sms"

    emails = [c for c in ledger.communications() if c.channel == "email"]
    victim = next(c for c in emails if sms_is_next(c))
    with smtp_server_factory() as server:
        server.handler.refuse.add(victim.recipient)
        smtp = SmtpSettings(server.host, server.port, timeout=10)
        for _ in range(2):  # the second pass is a retry: nothing happens twice
            for chunk in chunks:
                dispatch.deliver_stage(ONBOARDING, RUN, settings, chunk, lambda: smtp, sms=sms)

    key = victim.idempotency_key
    tried = {
        c.idempotency_key: (c.channel, c.status)
        for c in ledger.communications()
        if c.idempotency_key.startswith(key)
    }
    assert tried == {
        key: ("email", "failed"),
        fallback_key(key, "sms"): ("sms", "failed"),
        fallback_key(key, "paper"): ("paper", "sent"),
    }
    (sms,) = ledger.by_keys([fallback_key(key, "sms")]).values()
    assert "HTTP 422" in sms.reason and "number not reachable" in sms.reason
    (paper,) = ledger.by_keys([fallback_key(key, "paper")]).values()
    assert "fallback after sms refused" in paper.route_reason
    assert (victim.recipient,) not in [m.rcpt_tos for m in server.handler.messages]
    summary = summarize(ledger, "onboarding", "manual__fallback")
    assert summary.fallbacks["email -> sms -> paper"] == 1
    assert summary.accounted == summary.extracted
