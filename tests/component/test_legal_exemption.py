"""A legally required communication is not suppressed by the frequency cap: it goes out,
and the ledger records that it went over the cap because the law requires it."""

import json
from dataclasses import replace
from datetime import UTC, datetime

from missiva.delivery import outbox as dispatch
from missiva.journeys import ONBOARDING
from missiva.records.keys import fallback_base
from missiva.records.ledger import Ledger
from missiva.routing.contact_policy import ContactPolicy
from missiva.run_context import RunContext

RUN = RunContext(
    "onboarding", "manual__legal", "deliver", 1,
    datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC),
)  # fmt: skip
#: a fixed clock outside every quiet hours (the test must not depend on the time it runs)
NOON = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
#: onboarding as if the law required its welcome letter on paper
LEGAL = replace(ONBOARDING, required_channels={"welcome": "paper"})


def test_a_legally_required_letter_goes_over_the_cap_and_says_so(missiva_home, composed_run):
    settings = missiva_home
    composed_run(settings, customers=12, seed=9, journey=LEGAL, run=RUN)
    ledger = Ledger(settings.ledger_url)
    letters = [c for c in ledger.communications() if c.status == "composed"]
    assert letters and {c.channel for c in letters} == {"paper"}
    capped, free = letters[0], letters[1]
    policy = ContactPolicy(ledger)
    for n in range(5):  # the customer's transactional contacts of the day are used up
        other = f"billing/statement/{n}"
        assert policy.reserve(
            capped.customer_id, "email", "transactional", other, f"x{n}", now=NOON
        ).allowed
    decided = policy.decide(capped.customer_id, "paper", "transactional", "another", now=NOON)
    assert decided.kind == "suppress"
    dispatch.deliver_stage(LEGAL, RUN, settings, 0, now=NOON)
    assert ledger.get(capped.communication_id).status == "sent"
    sending = [json.loads(e.detail) for e in ledger.events(capped.communication_id)
               if e.kind == "sending"]  # fmt: skip
    assert sending[0]["contact_policy"] == (
        "legally required: exempt from the frequency cap (transactional contact 6, over the "
        "cap of 5 in 1 day)"
    )
    contents = [c.content_key for c in policy.contacts(capped.customer_id)]
    assert fallback_base(capped.idempotency_key) in contents and len(contents) == 6
    # a letter under the cap is an ordinary contact: nothing to note
    assert ledger.get(free.communication_id).status == "sent"
    (ordinary,) = [json.loads(e.detail) for e in ledger.events(free.communication_id)
                   if e.kind == "sending"]  # fmt: skip
    assert "contact_policy" not in ordinary
