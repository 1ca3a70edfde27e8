"""Demo data of the billing_statements journey: pay-per-km motor accounts and their
monthly statement lines (``billing_accounts``, ``statement_lines``).

Every account is billed each month from the month it opened to the month it closed,
at most up to ``joined_on``'s month, over :data:`MONTHS` months; so the monthly runs
for the two months before that one find statements. Most customers hold one account,
a few two (their paper statements travel in one envelope); a few are billed at
another customer's address (households: one address, several addressees). Boundary
accounts: one opened in the last month (no statement for the month before), one closed
on the first day of the month before (billed up to the month before that), one opened in
the middle of the month before.
"""

from __future__ import annotations

import random
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from missiva.devtools.seed_people import Person

MONTHS = 8
ACCOUNT_SHARE = 0.9  # of the customers
SECOND_ACCOUNT_SHARE = 0.1
HOUSEHOLD_SHARE = 0.1  # of the paper customers, billed at another's address
_CURRENCY = {"IT": "EUR", "GB": "GBP"}
_VEHICLES = {
    "IT": ("Fiat Panda", "Lancia Ypsilon", "Alfa Romeo Giulia", "Fiat 500"),
    "GB": ("Ford Fiesta", "Vauxhall Corsa", "Mini Cooper", "Nissan Qashqai"),
}
_LINES = {  # line kind -> description per language
    "base": {"it": "Premio base mensile", "en": "Monthly base premium"},
    "distance": {"it": "Chilometri percorsi", "en": "Distance driven"},
    "assistance": {"it": "Assistenza stradale", "en": "Roadside assistance"},
    "discount": {"it": "Sconto guida sicura", "en": "Safe driving discount"},
}
ASSISTANCE_CENTS = 350


def _months_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _plate(rng: random.Random, country: str) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWXYZ"
    pick = "".join(rng.choice(letters) for _ in range(5))
    if country == "IT":
        return f"{pick[:2]}{rng.randrange(100, 1000)}{pick[2:4]}"
    return f"{pick[:2]}{rng.randrange(10, 100)} {pick[2:]}"


def _lines(rng: random.Random, account: dict, month: date, language: str) -> list[tuple]:
    """The statement lines of one account for one month."""
    period = month.strftime("%Y-%m")
    km = rng.randrange(150, 2200)
    lines = [
        ("base", account["base_cents"], None),
        ("distance", km * account["cents_per_km"], km),
    ]
    if account["assistance"]:
        lines.append(("assistance", ASSISTANCE_CENTS, None))
    if rng.random() < 0.3:
        lines.append(("discount", -(account["base_cents"] // 10), None))
    return [
        (
            account["account_id"],
            period,
            number,
            f"{_LINES[kind][language]} - {account['vehicle']}"
            if kind == "base"
            else _LINES[kind][language],
            cents,
            account["currency"],
            quantity,
            "km" if quantity is not None else None,
        )
        for number, (kind, cents, quantity) in enumerate(lines, start=1)
    ]


def _bill_to(person: Person) -> tuple:
    return (person.address_line1, person.address_line2, person.postal_code, person.city)


def rows(rng: random.Random, customers: list[Person], joined_on: date) -> dict[str, list]:
    """``billing_accounts`` and ``statement_lines`` rows for ``customers``."""
    last = joined_on.replace(day=1)
    first = _months_back(last, MONTHS - 1)
    holders = [p for p in customers if rng.random() < ACCOUNT_SHARE]
    clean_paper = [
        p for p in holders if p.role is None and p.preferred_channel == "paper" and p.address_line1
    ]
    households = _households(clean_paper)
    # One customer with a second account is a paper customer: one envelope, two letters.
    seconds = [p for p in holders if rng.random() < SECOND_ACCOUNT_SHARE]
    seconds = {p.customer_id: p for p in [*seconds, *clean_paper[-1:]]}
    accounts = [(p, 0) for p in holders] + [(p, 1) for p in seconds.values()]
    # boundary accounts are neither in a household nor a second account's holder's
    reserved = {*households, *(p.customer_id for p in households.values()), *seconds}
    boundaries = ["opened_last_month", "closed_before", "opened_mid_month"]
    table_accounts, table_lines = [], []
    for row_id, (person, nth) in enumerate(accounts, start=1):
        plain = nth == 0 and person.role is None and person.customer_id not in reserved
        boundary = boundaries.pop(0) if plain and boundaries else None
        opened, closed = _open_and_close(rng, first, last, boundary)
        household = households.get(person.customer_id)
        account, row = _account(rng, row_id, person, household, opened, closed)
        table_accounts.append(row)
        language = person.language if person.language in ("it", "en") else "en"
        month = opened.replace(day=1)
        end = _months_back(closed, 1) if closed else last
        while month <= end:
            table_lines += _lines(rng, account, month, language)
            month = _months_back(month, -1)
    return {"billing_accounts": table_accounts, "statement_lines": table_lines}


def _households(clean_paper: list[Person]) -> dict[str, Person]:
    """customer_id -> the customer whose address bills it (pairs of paper customers)."""
    households: dict[str, Person] = {}
    for country in sorted(_CURRENCY):
        local = [p for p in clean_paper if p.country == country]
        pairs = max(1, round(len(local) * HOUSEHOLD_SHARE)) if len(local) >= 2 else 0
        for head, member in zip(local[: 2 * pairs : 2], local[1 : 2 * pairs : 2], strict=True):
            households[member.customer_id] = head
    return households


def _open_and_close(
    rng: random.Random, first: date, last: date, boundary: str | None
) -> tuple[date, date | None]:
    """When an account opened and closed (None: still open), boundary cases included."""
    opened = _months_back(last, rng.randrange(2, MONTHS))
    closed = None
    if boundary == "opened_last_month":
        opened = last.replace(day=5)
    elif boundary == "closed_before":
        closed = _months_back(last, 1).replace(day=1)  # billed up to the month before
    elif boundary == "opened_mid_month":
        opened = _months_back(last, 1).replace(day=15)
    return max(opened, first), closed


def _account(
    rng: random.Random,
    row_id: int,
    person: Person,
    household: Person | None,
    opened: date,
    closed: date | None,
) -> tuple[dict, tuple]:
    """One account: its terms (for the statement lines) and its ``billing_accounts`` row."""
    paperless = int(
        household is None
        and person.preferred_channel != "paper"
        and person.email is not None
        and rng.random() < 0.85
    )
    account = {
        "account_id": f"A{row_id:07d}",
        "vehicle": f"{rng.choice(_VEHICLES[person.country])} {_plate(rng, person.country)}",
        "currency": _CURRENCY[person.country],
        "base_cents": rng.randrange(2_500, 7_000),
        "cents_per_km": rng.randrange(3, 7),
        "assistance": rng.random() < 0.4,
    }
    row = (
        row_id,
        account["account_id"],
        person.customer_id,
        "Motor pay-per-km",
        account["vehicle"],
        account["currency"],
        paperless,
        opened.isoformat(),
        closed.isoformat() if closed else None,
        *(_bill_to(household) if household else (None,) * 4),
    )
    return account, row
