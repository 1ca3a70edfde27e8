"""Demo data of the onboarding reminder: who has completed onboarding, and when.

About half the customers complete onboarding within a week of joining (no reminder),
a quarter later than that (reminded first), the rest have started without completing
(a row without ``completed_at``) or have no row at all (both reminded).
"""

import random
from datetime import date, timedelta

_TS = "%Y-%m-%d %H:%M:%S"


def rows(rng: random.Random, customers: list, joined_on: date) -> dict[str, list[tuple]]:
    """``onboarding_progress`` rows for the distinct ``customers``."""
    progress = []
    for person in customers:
        draw = rng.random()
        if draw < 0.5:
            completed = person.joined_at + timedelta(days=rng.uniform(0.1, 6.5))
        elif draw < 0.75:
            completed = person.joined_at + timedelta(days=rng.uniform(9, 20))
        elif draw < 0.875:
            completed = None
        else:
            continue
        progress.append((person.customer_id, completed.strftime(_TS) if completed else None))
    return {"onboarding_progress": progress}
