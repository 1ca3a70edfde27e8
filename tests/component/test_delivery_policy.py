"""The contact policy as delivery enforces it, against a real SMTP server and the local
SMS provider: quiet hours defer (then the deferred run sends), caps and duplicate content
suppress, a refused e-mail's reservation is released for its fallback; and a ``review``
communication is settled by a later delivery report (``missiva events ingest``)."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from ledger_fixtures import raw_sql

from missiva.cli import main
from missiva.delivery import deferred as later
from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.journeys import JOURNEYS, ONBOARDING
from missiva.print_stage import print_stage
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.records.send_progress import BEFORE_DATA, Progress
from missiva.routing.contact_policy import ContactPolicy
from missiva.run_context import RunContext
from missiva.settings import DEFAULT_CONTACT_POLICY

RUN = RunContext(
    "onboarding", "manual__policy", "deliver", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
EVENING = datetime(2026, 11, 3, 21, 30, tzinfo=UTC)  # 22:30 in Rome, 21:30 in London
NEXT_MORNING = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
QUIET_IN_ROME_ONLY = datetime(2026, 11, 3, 20, 30, tzinfo=UTC)  # 21:30 in Rome


@pytest.fixture
def composed(missiva_home, composed_run):
    """The production policy (quiet hours 21:00-08:00), a day of onboarding composed."""
    settings = replace(missiva_home, contact_policy=DEFAULT_CONTACT_POLICY)
    assert composed_run(settings, customers=40, seed=7, run=RUN).chunks == [0]
    return settings, Ledger(settings.ledger_url)


def _deliver(settings, server, sms, now, run=RUN):
    smtp = SmtpSettings(server.host, server.port, timeout=10)
    return dispatch.deliver_stage(ONBOARDING, run, settings, 0, lambda: smtp, sms=sms, now=now)


def test_quiet_hours_defer_then_the_deferred_run_sends(composed, smtp_server, sms_provider):
    settings, ledger = composed
    sms, received_sms = sms_provider
    _deliver(settings, smtp_server, sms, EVENING)
    comms = ledger.communications()
    deferred = [c for c in comms if c.status == "deferred"]
    assert {c.channel for c in deferred} == {"email", "sms"}
    assert all(c.status == "sent" for c in comms if c.channel == "paper")
    assert smtp_server.handler.messages == [] and not list(received_sms.glob("*.json"))
    assert all("quiet hours 21:00\u201308:00" in c.reason for c in deferred)
    summary = summarize(ledger, RUN.dag_id, RUN.run_id)
    assert summary.statuses["deferred"] == len(deferred) and summary.accounted == summary.extracted
    assert "contact policy: quiet hours" in "\n".join(summary.lines())

    scheduler = replace(RUN, dag_id="deferred_deliveries", run_id="scheduled__next", try_number=1)
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    early = later.deliver_deferred(
        JOURNEYS, scheduler, settings, lambda: smtp, sms=sms, now=EVENING
    )
    assert early == {"due": 0}
    done = later.deliver_deferred(  # in chunks of 2: each delivered once
        JOURNEYS, scheduler, settings, lambda: smtp, sms=sms, now=NEXT_MORNING, chunk_size=2
    )
    assert len(deferred) > 2 and done == {"due": len(deferred), "sent": len(deferred)}
    emails = [c for c in deferred if c.channel == "email"]
    assert sorted(m.rcpt_tos[0] for m in smtp_server.handler.messages) == sorted(
        c.recipient for c in emails
    )
    assert len(list(received_sms.glob("*.json"))) == len(deferred) - len(emails)
    for comm in deferred:
        sent = ledger.get(comm.communication_id)
        assert sent.status == "sent" and sent.run_id == RUN.run_id  # the journey run's row
        kinds = [e.kind for e in ledger.events(comm.communication_id)]
        assert kinds == ["composed", "deferred", "sending", "sent"]
        assert json.loads(ledger.events(comm.communication_id)[1].detail)["not_before"]
    again = later.deliver_deferred(
        JOURNEYS, scheduler, settings, lambda: smtp, sms=sms, now=NEXT_MORNING
    )
    assert again == {"due": 0} and ledger.verify_chain() == []


def test_quiet_hours_follow_each_customers_time_zone(composed, smtp_server, sms_provider):
    """21:30 in Rome, 20:30 in London: only the Italian customers' messages wait. The
    time zone is the one recorded at composition (``consent_state``); a communication
    composed before it was recorded there takes it from its archived input record."""
    settings, ledger = composed
    contacted = [c for c in ledger.communications() if c.channel in ("email", "sms")]
    zones = {c.communication_id: c.consent["timezone"] for c in contacted}
    assert set(zones.values()) == {"Europe/Rome", "Europe/London"}
    older = contacted[::2]  # as composed before the time zone was recorded
    for comm in older:
        state = {k: v for k, v in comm.consent.items() if k != "timezone"}
        raw_sql(
            settings.ledger_url,
            "update communications set consent_state = :state where communication_id = :id",
            state=json.dumps(state),
            id=comm.communication_id,
        )

    _deliver(settings, smtp_server, sms_provider[0], QUIET_IN_ROME_ONLY)

    for comm in contacted:
        status = ledger.get(comm.communication_id).status
        expected = "deferred" if zones[comm.communication_id] == "Europe/Rome" else "sent"
        assert status == expected, (comm.communication_id, zones[comm.communication_id])
    assert any(zones[c.communication_id] == "Europe/Rome" for c in older)


def test_frequency_cap_and_duplicate_content_suppress(composed, smtp_server, sms_provider):
    settings, ledger = composed
    capped, duplicate = [c for c in ledger.communications() if c.channel == "email"][:2]
    with ContactPolicy(ledger) as policy:  # two contacts by other journeys earlier that day
        for n in range(5):
            morning = datetime(2026, 11, 3, 9, n, tzinfo=UTC)
            policy.reserve(
                capped.customer_id, "paper", "transactional", f"x/{n}", f"x{n}", None, morning
            )
        policy.reserve(  # the same content already went out on another channel
            duplicate.customer_id, "paper", "transactional", duplicate.idempotency_key, "other"
        )
    _deliver(settings, smtp_server, sms_provider[0], datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert ledger.get(capped.communication_id).status == "suppressed"
    assert (
        "frequency cap: 5 transactional contacts in 1 day"
        in ledger.get(capped.communication_id).reason
    )
    assert ledger.get(duplicate.communication_id).status == "suppressed"
    assert "already sent the same content on paper" in ledger.get(duplicate.communication_id).reason
    received = {m.rcpt_tos[0] for m in smtp_server.handler.messages}
    assert capped.recipient not in received and duplicate.recipient not in received


def test_refused_email_releases_its_contact_for_the_fallback(composed, smtp_server, sms_provider):
    settings, ledger = composed
    victim = next(c for c in ledger.communications() if c.channel == "email")
    smtp_server.handler.refuse.add(victim.recipient)
    _deliver(settings, smtp_server, sms_provider[0], datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert ledger.get(victim.communication_id).status == "failed"
    (fallback,) = [c for c in ledger.trace(victim.customer_id) if "/fallback-" in c.idempotency_key]
    assert fallback.status == "sent"
    with ContactPolicy(ledger) as policy:
        (contact,) = policy.contacts(victim.customer_id)
    assert contact.communication_id == fallback.communication_id


def test_a_delivery_report_settles_review(composed, smtp_server, sms_provider, tmp_path):
    settings, ledger = composed
    in_doubt = [c for c in ledger.communications() if c.channel == "email"][:2]
    for comm in in_doubt:  # a worker died while handing them to the server
        ledger.transition(comm.communication_id, "composed", "sending")
    _deliver(settings, smtp_server, sms_provider[0], datetime(2026, 11, 3, 12, tzinfo=UTC))
    delivered, bounced = [ledger.get(c.communication_id) for c in in_doubt]
    assert delivered.status == bounced.status == "review"  # recovered: outcome unknown
    reports = [
        {"message_id": f"<{delivered.communication_id}@missiva.example>", "event": "delivered",
         "at": "2026-11-03T12:05:00+00:00", "provider": "postfix"},
        {"communication_id": bounced.communication_id, "event": "hard_bounce",
         "reason": "550 5.1.1 user unknown"},
    ]  # fmt: skip
    payload = tmp_path / "reports.json"
    payload.write_text(json.dumps(reports))
    assert main(["events", "--ledger", settings.ledger_url, "ingest", str(payload)]) == 0
    settled = ledger.get(delivered.communication_id)
    assert settled.status == "sent" and settled.sent_at == datetime(2026, 11, 3, 12, 5, tzinfo=UTC)
    assert settled.provider_message_id == delivered.provider_message_id  # none made up
    assert ledger.events(delivered.communication_id)[-1].kind == "delivered"
    assert ledger.get(bounced.communication_id).status == "bounced"
    assert ledger.verify_chain() == []


def test_letters_deferred_by_quiet_hours_go_into_a_late_print_batch(
    composed, smtp_server, sms_provider, tmp_path
):
    """A policy with paper in its quiet hours: the run's print batch holds the letters sent
    that evening (none), the deferred run prints the rest next morning in a late batch."""
    settings, ledger = composed
    policy = tmp_path / "policy.toml"
    policy.write_text(
        DEFAULT_CONTACT_POLICY.read_text().replace(
            'channels = ["email", "sms"]', 'channels = ["email", "sms", "paper"]'
        )
    )
    settings = replace(settings, contact_policy=policy)
    _deliver(settings, smtp_server, sms_provider[0], EVENING)
    letters = [c for c in ledger.communications() if c.channel == "paper"]
    assert letters and all(c.status == "deferred" for c in letters)
    assert print_stage(ONBOARDING, RUN, settings) == []

    scheduler = replace(RUN, dag_id="deferred_deliveries", run_id="scheduled__next")
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    later.deliver_deferred(
        JOURNEYS, scheduler, settings, lambda: smtp, sms=sms_provider[0], now=NEXT_MORNING
    )
    batches = settings.print_dir / RUN.dag_id / "2026-11-02" / "batches"
    (manifest,) = [json.loads(p.read_bytes()) for p in batches.glob("*.manifest.json")]
    assert manifest["run_label"] == "onboarding-2026-11-02"
    printed = sorted(c for e in manifest["envelopes"] for c in e["communication_ids"])
    assert printed == sorted(c.communication_id for c in letters)
    assert print_stage(ONBOARDING, RUN, settings) == []  # the run's task again: nothing


def test_a_deferred_send_left_by_a_dead_worker_is_recovered(composed, smtp_server, sms_provider):
    """The deferred run's retry takes over what its dead worker left ``sending`` (here
    before the data, its lease expired): sent once, not left in flight."""
    settings, ledger = composed
    sms, _ = sms_provider
    _deliver(settings, smtp_server, sms, EVENING)
    scheduler = replace(RUN, dag_id="deferred_deliveries", run_id="scheduled__next", try_number=1)
    chunks = later.stage_due(JOURNEYS, scheduler, settings, now=NEXT_MORNING)
    waiting = [c for c in ledger.communications() if c.status == "deferred"]
    email = next(c for c in waiting if c.channel == "email")
    expired = NEXT_MORNING - timedelta(minutes=1)
    dead = Progress(BEFORE_DATA, "another-host:1:deferred_deliveries/x/deliver_due#1", expired)
    ledger.transition(email.communication_id, "deferred", "sending", progress=dead)
    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    retry = replace(scheduler, try_number=2)
    for chunk in chunks:
        later.deliver_due_chunk(
            JOURNEYS, retry, settings, chunk, lambda: smtp, sms=sms, now=NEXT_MORNING
        )
    assert ledger.get(email.communication_id).status == "sent"
    recipients = [m.rcpt_tos[0] for m in smtp_server.handler.messages]
    assert recipients.count(email.recipient) == 1
