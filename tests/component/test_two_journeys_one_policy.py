"""Two journeys delivering to the same customers at the same moment, in two processes,
share one contact policy enforced in the ledger database: with a cap of one transactional
contact a day, every customer is contacted exactly once, whichever journey wins."""

import multiprocessing
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

from missiva.delivery import outbox as dispatch
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import seed
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.run_context import RunContext

#: the same welcome, sent by a second journey (another idempotency and content key)
TWIN = replace(ONBOARDING, name="onboarding_twin", channels=("email",))
ONE_A_DAY = """
[caps.transactional]
limit = 1
window = "1d"

[quiet_hours]
start = "00:00"
end = "00:00"
"""
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _run(journey) -> RunContext:
    return RunContext(
        journey.name, "manual__twins", "deliver", 1,
        datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
    )  # fmt: skip


def _deliver(journey, settings, smtp, barrier) -> None:
    barrier.wait(timeout=60)
    dispatch.deliver_stage(journey, _run(journey), settings, 0, lambda: smtp, now=NOW)


def test_two_journeys_at_once_never_exceed_the_shared_cap(
    missiva_home, tmp_path, smtp_server, composed_run
):
    policy = tmp_path / "one-a-day.toml"
    policy.write_text(ONE_A_DAY)
    settings = replace(missiva_home, contact_policy=policy)
    seed(settings.core_db, customers=30, seed=9, joined_on=date(2026, 11, 2))
    for journey in (ONBOARDING, TWIN):
        assert composed_run(settings, journey=journey, run=_run(journey)).chunks == [0]
    ledger = Ledger(settings.ledger_url)
    both = {
        c.customer_id
        for c in ledger.communications(journey="onboarding")
        if c.status == "composed" and c.channel == "email"
    } & {c.customer_id for c in ledger.communications(journey="onboarding_twin")}
    assert len(both) > 5, "customers whom both journeys want to e-mail"

    smtp = SmtpSettings(smtp_server.host, smtp_server.port, timeout=10)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_deliver, args=(journey, settings, smtp, barrier))
        for journey in (ONBOARDING, TWIN)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]

    sent = Counter(c.customer_id for c in ledger.communications() if c.status == "sent")
    received = Counter(m.rcpt_tos[0] for m in smtp_server.handler.messages)
    assert all(sent[customer] == 1 for customer in both), "one contact each, not two"
    assert all(n == 1 for n in received.values())
    capped = [c for c in ledger.communications() if c.status == "suppressed" and c.channel]
    assert {c.customer_id for c in capped} >= both - {None}
    assert all("frequency cap: 1 transactional contact in 1 day" in c.reason for c in capped)
