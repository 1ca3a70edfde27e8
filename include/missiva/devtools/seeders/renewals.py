"""Demo data of the renewal_notices journey: a book of policies expiring around the
notice windows of the demo day, with their renewal offers.

For each window N of :data:`~missiva.journeys.renewal_notices.RENEWAL_WINDOWS` and the
demo day D (``joined_on``, the data interval of the demo run): policies ending exactly on
D + N (noticed by the demo run), one day before and one day after that edge (noticed by
the neighbouring days' runs only), and policies ending on D + N that were already
renewed (status ``renewed``, or a renewal record dated before the interval ends: no
notice) or that are renewed only after the interval (still noticed).
"""

import random
from datetime import date, datetime, time, timedelta

from missiva.journeys.renewal_notices import RENEWAL_WINDOWS

_TS = "%Y-%m-%d %H:%M:%S"
_TAX_RATE = {"EUR": 0.2225, "GBP": 0.12}  # Italian premium tax, UK insurance premium tax
_CURRENCY = {"IT": "EUR", "GB": "GBP"}
_COVER_CHANGES = {  # product -> the change offered for the next term, per language
    "Home": {
        "it": "Franchigia per danni da acqua aumentata da 150 a 250 euro.",
        "en": "The escape-of-water excess rises from 150 to 250.",
    },
    "Motor": {
        "it": "Assistenza stradale inclusa senza costi aggiuntivi.",
        "en": "Roadside assistance is now included at no extra cost.",
    },
    "Health": {
        "it": "Check-up annuale ora coperto.",
        "en": "An annual check-up is now covered.",
    },
}
#: (days from the window's edge, how the policy stands) per window: 'open' policies are
#: noticed; 'status' (policies.status = 'renewed') and 'renewed' (a renewal record
#: before the demo interval ends) are not; 'renewed_later' is renewed after it (noticed).
SCENARIOS = (
    (0, "open"),
    (0, "open"),
    (-1, "open"),
    (1, "open"),
    (0, "status"),
    (0, "renewed"),
    (0, "renewed_later"),
)


def rows(rng: random.Random, customers: list, joined_on: date) -> dict[str, list[tuple]]:
    """``policies`` and ``policy_renewals`` rows for :data:`SCENARIOS` in every window,
    held by clean customers (no injected defect); fewer when there are not enough."""
    clean = sorted((p for p in customers if p.role is None), key=lambda p: p.customer_id)
    wanted = len(SCENARIOS) * len(RENEWAL_WINDOWS)
    holders = rng.sample(clean, min(wanted, len(clean)))
    policies, renewals = [], []
    day = datetime.combine(joined_on, time())
    plan = [(w, o, s) for w in RENEWAL_WINDOWS for o, s in SCENARIOS]
    for number, (holder, (window, offset, standing)) in enumerate(
        zip(holders, plan, strict=False), start=1
    ):
        policy_id = f"R{number:07d}"
        end = joined_on + timedelta(days=window + offset)
        currency = _CURRENCY[holder.country]
        product = rng.choice(tuple(_COVER_CHANGES))
        net = rng.randrange(20_000, 150_000)
        policies.append(
            (
                policy_id,
                holder.customer_id,
                product,
                net - rng.randrange(0, 5_000),  # this term's premium
                currency,
                (end - timedelta(days=365)).isoformat(),
                end.isoformat(),
                "renewed" if standing == "status" else "active",
            )
        )
        renewed_at = {
            "renewed": day - timedelta(days=window // 2 + 1, hours=-9),
            "renewed_later": day + timedelta(days=1, hours=10),
        }.get(standing)
        changes = _COVER_CHANGES[product][holder.language] if rng.random() < 0.6 else None
        renewals.append(
            (
                number,
                policy_id,
                net,
                round(net * _TAX_RATE[currency]),
                rng.choice((500, 1_000)),
                changes,
                renewed_at.strftime(_TS) if renewed_at else None,
            )
        )
    return {"policies": policies, "policy_renewals": renewals}
