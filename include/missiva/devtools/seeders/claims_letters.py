"""Demo claim events for the ``claims_letters`` journey.

Every seeded claim gets its acknowledgement a few minutes after it was opened, a request
for documents while in review and a decision once settled or rejected (mostly after the
demo day). New claims, opened around the demo day ``joined_on`` for clean customers,
give that day's run its events, scripted for the boundary rules first:

0. an acknowledgement exactly at the interval start (answered by this run);
1. an acknowledgement and a request for documents for the same claim (two letters);
2. an accepted and 3. a rejected decision (paper letter plus portal copy);
4. an acknowledgement one second before the interval (the previous run's) and a request
   for documents exactly at the interval end (the next run's);

then random events of every kind within the interval.
"""

import random
from datetime import date, datetime, time, timedelta

from missiva.devtools.seed_people import TS, Person

KINDS = ("acknowledgement", "documents_request", "decision")
DOCUMENTS = {
    "it": ("denuncia dell'accaduto", "fotografie del danno", "preventivo di riparazione"),
    "en": ("incident report", "photographs of the damage", "repair estimate"),
}
REASONS = {
    "accepted": {
        "it": "Il danno è coperto dalla polizza.",
        "en": "The damage is covered by your policy.",
    },
    "partially_accepted": {
        "it": "Il danno è coperto al netto della franchigia prevista dalla polizza.",
        "en": "The damage is covered less the excess set in your policy.",
    },
    "rejected": {
        "it": "Il danno non rientra nelle garanzie della polizza.",
        "en": "The damage is not covered by your policy.",
    },
}
#: row layout of ``claim_events`` after ``event_id`` (assigned in time order)
Event = tuple[str, str, str, datetime, str | None, str | None, str | None, int | None, str | None]


def _event(
    person: Person, claim: tuple, kind: str, at: datetime, decision: str = "accepted"
) -> Event:
    """One event of ``kind`` for ``claim`` at ``at``, with the details its kind needs."""
    documents = respond_by = settlement = reason = None
    language = person.language if person.language in DOCUMENTS else "en"  # a defect row
    if kind == "documents_request":
        documents = "; ".join(DOCUMENTS[language])
        respond_by = (at.date() + timedelta(days=30)).isoformat()
    if kind == "decision":
        settlement = {"accepted": claim[5], "partially_accepted": claim[5] * 4 // 5}.get(
            decision, 0
        )
        reason = REASONS[decision][language]
    else:
        decision = None
    return (
        claim[0],
        person.customer_id,
        kind,
        at,
        documents,
        respond_by,
        decision,
        settlement,
        reason,
    )


def _history(person: Person, rng: random.Random) -> list[Event]:
    """The events of the customer's seeded claims, following their status."""
    events = []
    for claim in person.claims:
        opened, status = datetime.strptime(claim[3], TS), claim[4]
        events.append(_event(person, claim, "acknowledgement", opened + timedelta(minutes=5)))
        if status != "open":
            events.append(_event(person, claim, "documents_request", opened + timedelta(days=2)))
        if status in ("settled", "rejected"):
            outcome = "rejected" if status == "rejected" else rng.choice(tuple(REASONS)[:2])
            events.append(_event(person, claim, "decision", opened + timedelta(days=20), outcome))
    return events


def _plan(i: int, day: datetime, rng: random.Random) -> list[tuple[str, datetime, str]]:
    """(kind, when, decision) of the events of the ``i``-th new claim (see module doc)."""
    within = day + timedelta(seconds=rng.randrange(1, 86_400))
    scripted = {
        0: [("acknowledgement", day, "")],
        1: [
            ("acknowledgement", day + timedelta(hours=9), ""),
            ("documents_request", day + timedelta(hours=15), ""),
        ],
        2: [("decision", within, "accepted")],
        3: [("decision", within, "rejected")],
        4: [
            ("acknowledgement", day - timedelta(seconds=1), ""),
            ("documents_request", day + timedelta(days=1), ""),
        ],
    }
    return scripted.get(i) or [(rng.choice(KINDS), within, rng.choice(tuple(REASONS)))]


def _new_claims(people: list[Person], day: datetime, rng: random.Random) -> tuple[list, list]:
    """Claims opened in the hours before ``day`` and their events (see module doc)."""
    claims, events = [], []
    for i, person in enumerate(people):
        policy = min(person.policies, key=lambda p: p[5])
        opened = day - timedelta(minutes=10 + rng.randrange(600))
        amount = rng.randrange(20_000, 1_500_000)
        claim = (
            f"K9{i + 1:06d}",
            policy[0],
            person.customer_id,
            opened.strftime(TS),
            "open",
            amount,
        )
        claims.append(claim)
        events += [_event(person, claim, *step) for step in _plan(i, day, rng)]
    return claims, events


def rows(rng: random.Random, customers: list[Person], joined_on: date) -> dict[str, list[tuple]]:
    """New claims and every claim event, ``event_id`` following ``occurred_at``."""
    clean = [p for p in customers if p.role is None and p.policies]
    chosen = rng.sample(clean, min(len(clean), max(8, len(customers) // 20)))
    claims, events = _new_claims(chosen, datetime.combine(joined_on, time()), rng)
    for person in customers:
        events += _history(person, rng)
    events.sort(key=lambda e: (e[3], e[0], KINDS.index(e[2])))
    numbered = [
        (number, *e[:3], e[3].strftime(TS), *e[4:]) for number, e in enumerate(events, start=1)
    ]
    return {"claims": claims, "claim_events": numbered}
