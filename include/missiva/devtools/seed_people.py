"""The demo customers (``customers`` and ``consents`` rows): who joins when, with which
contact data, and the planned defects, suppressions and hostile names of the day.

Everything derives from the ``random.Random`` and the per-locale ``Faker`` instances
passed in (:func:`make_fakers`): the same seed gives identical people.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from faker import Faker

DEFECT_KINDS = (
    "invalid_email",
    "missing_address",
    "duplicate_customer_id",
    "crlf_in_name",
    "unsupported_language",
)
SUPPRESSION_KINDS = ("do_not_contact", "no_consent")

DEFECT_SHARE = 0.08  # of the rows joined on ``joined_on``
PREVIOUS_DAY_SHARE = 0.10
DO_NOT_CONTACT_SHARE = 0.02
NO_CONSENT_SHARE = 0.03
CHANNELS = ("email", "paper", "sms")
CHANNEL_WEIGHTS = (60, 30, 10)
CRLF_PAYLOAD = "\r\nBcc: victim@example.com"

# country -> (Faker locale, language, timezone, currency)
COUNTRIES = {
    "IT": ("it_IT", "it", "Europe/Rome", "EUR"),
    "GB": ("en_GB", "en", "Europe/London", "GBP"),
}
# Clean rows with names that must survive templating, HTML, PDF fonts and SQL unchanged.
_HOSTILE_NAMES = (
    ("Marco", "{{ 7*7 }}", "IT"),
    ("<script>alert(1)</script>", "Smith", "GB"),
    ("Ζωή", "Παπαδοπούλου", "GB"),
    ("李", "娜", "GB"),
    ("Francesca", "D'Angelo", "IT"),
)
# A defect that only makes sense on one channel forces that channel.
_DEFECT_CHANNEL = {"invalid_email": "email", "missing_address": "paper", "crlf_in_name": "email"}
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
TS = "%Y-%m-%d %H:%M:%S"


@dataclass
class Person:
    """One customers row being built (row_id and customer_id are set after sorting)."""

    role: str | None
    joined_at: datetime
    country: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    language: str
    address_line1: str | None
    address_line2: str | None
    postal_code: str | None
    city: str
    preferred_channel: str
    do_not_contact: int = 0
    duplicate_of: Person | None = None
    row_id: int = 0
    customer_id: str = field(default="")
    policies: list[tuple] = field(default_factory=list)  # rows of ``policies``
    claims: list[tuple] = field(default_factory=list)  # rows of ``claims``

    def as_row(self) -> tuple:
        """The values in ``customers`` column order."""
        return (
            self.row_id,
            self.customer_id,
            self.first_name,
            self.last_name,
            self.email,
            self.phone,
            self.language,
            COUNTRIES[self.country][2],
            self.address_line1,
            self.address_line2,
            self.postal_code,
            self.city,
            self.country,
            self.preferred_channel,
            self.do_not_contact,
            self.joined_at.strftime(TS),
        )


def make_fakers(seed: int) -> dict[str, Faker]:
    """One seeded ``Faker`` per country of :data:`COUNTRIES`."""
    fakers = {}
    for i, (country, (locale, *_)) in enumerate(COUNTRIES.items()):
        fakers[country] = _stable(Faker(locale))
        fakers[country].seed_instance(seed * len(COUNTRIES) + i)
    return fakers


def people(
    rng: random.Random, fakers: dict[str, Faker], customers: int, joined_on: date
) -> list[Person]:
    """The customer rows, by join time: the interval's (with their planned defects and
    suppressions), the day before's, and the duplicates; ids follow join time."""
    used_emails: set[str] = set()

    def make(role: str | None, joined_at: datetime) -> Person:
        return _make_person(rng, fakers, used_emails, role, joined_at)

    day = datetime.combine(joined_on, time())
    n_prev = round(customers * PREVIOUS_DAY_SHARE) if customers > 1 else 0
    roles = _plan_roles(rng, customers - n_prev)
    people = [make(role, day + _seconds(rng)) for role in roles]
    people += [make(None, day - timedelta(days=1) + _seconds(rng)) for _ in range(n_prev)]
    people += [
        _duplicate(make("duplicate_customer_id", day + _seconds(rng)), original)
        for original in list(people)
        if original.role == "duplicate_customer_id"
    ]
    # Boundary times on clean rows: the first and last second of the interval, and the
    # last second before it (must not be extracted).
    plain_in = [p for p in people[: len(roles)] if p.role is None]
    for p, seconds in zip(plain_in[:2], (0, 86_399), strict=False):
        p.joined_at = day + timedelta(seconds=seconds)
    if n_prev:
        people[len(roles)].joined_at = day - timedelta(seconds=1)

    people.sort(key=lambda p: p.joined_at)  # stable: row ids follow join time
    number = 0
    for row_id, p in enumerate(people, start=1):
        p.row_id = row_id
        if p.duplicate_of is None:
            number += 1
            p.customer_id = f"C{number:06d}"
    for p in people:
        if p.duplicate_of is not None:
            p.customer_id = p.duplicate_of.customer_id
    return people


def _stable(fk: Faker) -> Faker:
    """``fk`` with its city list in a fixed order: it_IT builds it from a set, whose order
    changes with Python's hash seed, so the same ``--seed`` gave other cities in another
    process."""
    for provider in fk.providers:
        if isinstance(getattr(provider, "cities", None), list):
            provider.cities = sorted(provider.cities)
    return fk


def _plan_roles(rng: random.Random, n: int) -> list[str | None]:
    """Roles for the ``n`` rows joining on the day: defects, suppressions, hostile names."""
    per_kind = max(1, round(n * DEFECT_SHARE / len(DEFECT_KINDS)))
    planned: list[str | None] = []
    for kind in DEFECT_KINDS:  # each duplicate pair makes two defective rows
        planned += [kind] * (
            max(1, round(per_kind / 2)) if kind == "duplicate_customer_id" else per_kind
        )
    planned += ["do_not_contact"] * max(1, round(n * DO_NOT_CONTACT_SHARE))
    planned += ["no_consent"] * max(1, round(n * NO_CONSENT_SHARE))
    planned += [f"hostile:{i}" for i in range(len(_HOSTILE_NAMES))]
    roles = planned[:n] + [None] * (n - len(planned))
    rng.shuffle(roles)
    return roles


def _seconds(rng: random.Random) -> timedelta:
    """A random time of day."""
    return timedelta(seconds=rng.randrange(86_400))


def _make_person(
    rng: random.Random,
    fakers: dict[str, Faker],
    used_emails: set[str],
    role: str | None,
    joined_at: datetime,
) -> Person:
    """Generate one customer; ``role`` decides its defect, suppression or hostile name."""
    hostile = _HOSTILE_NAMES[int(role.split(":")[1])] if role and role[:8] == "hostile:" else None
    country = hostile[2] if hostile else ("IT" if rng.random() < 0.5 else "GB")
    fk = fakers[country]
    first, last = hostile[:2] if hostile else (fk.first_name(), fk.last_name())
    channel = _DEFECT_CHANNEL.get(role or "") or rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
    has_email = channel == "email" or (
        role != "missing_address" and rng.random() < (0.5 if channel == "paper" else 0.8)
    )
    street, number = fk.street_name(), fk.building_number()
    p = Person(
        role=role,
        joined_at=joined_at,
        country=country,
        first_name=first,
        last_name=last,
        email=_email(rng, used_emails, first, last) if has_email else None,
        phone=_phone(rng, country) if channel == "sms" or rng.random() < 0.7 else None,
        language=COUNTRIES[country][1],
        address_line1=f"{street}, {number}" if country == "IT" else f"{number} {street}",
        address_line2=fk.secondary_address() if rng.random() < 0.2 else None,
        postal_code=fk.postcode(),
        city=fk.city(),
        preferred_channel=channel,
    )
    if role == "invalid_email":
        local, domain = p.email.split("@")
        p.email = rng.choice(
            (f"{local}@@{domain}", f"{local}.{domain}", f"{local} @{domain}", f"{local}@")
        )
    elif role == "missing_address":
        p.address_line1 = p.address_line2 = None
    elif role == "crlf_in_name":
        p.first_name += CRLF_PAYLOAD
    elif role == "unsupported_language":
        p.language = "fr"
    elif role == "do_not_contact":
        p.do_not_contact = 1
    return p


def _duplicate(extra: Person, original: Person) -> Person:
    """Make ``extra`` (different details) a second row with ``original``'s customer_id."""
    extra.duplicate_of = original
    return extra


def _slug(text: str) -> str:
    """ASCII lower-case letters and digits of ``text`` (accents stripped)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def _email(rng: random.Random, used: set[str], first: str, last: str) -> str:
    """A unique, valid address on a reserved example domain, derived from the name."""
    local = ".".join(s for s in (_slug(first), _slug(last)) if len(s) >= 2) or "customer"
    domain = rng.choice(_EMAIL_DOMAINS)
    email = f"{local}@{domain}"
    while email in used:
        email = f"{local}{rng.randrange(10, 10_000)}@{domain}"
    used.add(email)
    return email


def _phone(rng: random.Random, country: str) -> str:
    """An E.164 mobile number (GB: Ofcom's range reserved for drama)."""
    if country == "GB":
        return f"+447700900{rng.randrange(1000):03d}"
    return f"+393{rng.randrange(10**9):09d}"


def consents(rng: random.Random, p: Person) -> list[tuple]:
    """Consent rows for one customer (none, or all denied, for 'no_consent')."""
    if p.role == "no_consent" and rng.random() < 0.5:
        return []  # no consent rows at all: the extract reads 0
    at = p.joined_at.strftime(TS)
    rows = []
    for channel in CHANNELS:
        if p.role == "no_consent":
            transactional = marketing = 0
        else:
            optional_sms = channel == "sms" and p.preferred_channel != "sms"
            transactional = 0 if optional_sms and rng.random() < 0.1 else 1
            marketing = int(rng.random() < 0.4)
        rows.append((p.customer_id, channel, "transactional", transactional, at))
        rows.append((p.customer_id, channel, "marketing", marketing, at))
    return rows
