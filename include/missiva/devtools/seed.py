"""Seed the demo "core systems" database (SQLite) with realistic, deterministic data.

The database holds customers, consents, policies and claims (``include/sql/core_schema.sql``).
About 90% of customers join on ``joined_on`` (the onboarding run's data interval), the rest
on the previous day. Among the rows of ``joined_on`` a known share (~8%) carries exactly one
data defect (:data:`DEFECT_KINDS`) and a few are suppressions (do-not-contact, no consent);
the :class:`SeedReport` says which ``row_id`` is which, so tests can check that every record
ends as sent, suppressed or quarantined for the right reason. A handful of hostile-but-valid
names (template syntax, HTML, non-Latin script, apostrophes) are clean rows that must be
delivered correctly.

Everything derives from ``random.Random(seed)`` and per-locale ``Faker.seed_instance``: the
same arguments give identical rows.
"""

from __future__ import annotations

import importlib
import inspect
import random
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from missiva.paths import SQL_DIR

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
_COUNTRIES = {
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
_PRODUCTS = {  # product -> premium range in cents
    "Home": (18_000, 90_000),
    "Motor": (30_000, 180_000),
    "Life": (24_000, 240_000),
    "Travel": (4_000, 25_000),
    "Health": (40_000, 300_000),
}
_CLAIM_STATUSES = ("open", "in_review", "settled", "rejected")
#: Modules adding the demo data of one journey, in this order: each defines
#: ``rows(rng, customers, joined_on) -> {table: [row tuple, ...]}`` over the distinct
#: customers (:class:`_Person`, with their ``policies`` and ``claims`` rows), with its
#: own ``random.Random`` so that adding a module changes no other module's rows. A
#: ``rows`` that also takes ``seeded`` gets the rows seeded before it (:class:`Seeded`:
#: customers, consents, policies, claims and the earlier modules' tables), e.g. to
#: reference billing accounts. Tuples follow ``include/sql/core_schema.sql``'s columns.
JOURNEY_SEEDERS: tuple[str, ...] = (
    "missiva.devtools.seed_claims_letters",
    "missiva.devtools.seed_billing_statements",
    "missiva.devtools.seed_renewals",
    "missiva.devtools.seed_onboarding",
)
_TS = "%Y-%m-%d %H:%M:%S"


class Seeded:
    """The rows seeded so far, by table, as read-only dicts of column -> value."""

    def __init__(self, columns: Mapping[str, Sequence[str]]) -> None:
        self._columns = columns
        self._rows: dict[str, list[tuple]] = {}

    def add(self, table: str, rows: Iterable[tuple]) -> None:
        if table not in self._columns:
            raise ValueError(f"seeder rows for {table!r}: no such table in core_schema.sql")
        self._rows.setdefault(table, []).extend(rows)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` seeded so far ([] when none)."""
        names = self._columns[table]
        return [dict(zip(names, row, strict=True)) for row in self._rows.get(table, ())]

    def tables(self) -> dict[str, list[tuple]]:
        return self._rows


def schema_columns() -> dict[str, list[str]]:
    """Table -> column names of ``include/sql/core_schema.sql`` (in an empty database)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript((SQL_DIR / "core_schema.sql").read_text(encoding="utf-8"))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed` wrote; the dicts cover only rows joined on ``joined_on``."""

    db_path: Path
    customers: int  # rows in customers (including duplicate rows)
    joined_on: date
    in_interval: int  # rows whose joined_at falls on joined_on (UTC day)
    defects: dict[int, str]  # row_id -> defect kind
    suppressions: dict[int, str]  # row_id -> 'do_not_contact' | 'no_consent'


@dataclass
class _Person:
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
    duplicate_of: _Person | None = None
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
            _COUNTRIES[self.country][2],
            self.address_line1,
            self.address_line2,
            self.postal_code,
            self.city,
            self.country,
            self.preferred_channel,
            self.do_not_contact,
            self.joined_at.strftime(_TS),
        )


def seed(
    db_path: Path,
    *,
    customers: int = 200,
    seed: int = 42,
    joined_on: date = date(2026, 11, 2),
    seeders: Sequence[str] = JOURNEY_SEEDERS,
) -> SeedReport:
    """(Re)create the demo core-systems DB at ``db_path`` and return what was injected.

    ``customers`` distinct customers are generated; each ``duplicate_customer_id`` defect
    adds one extra row, so the table holds slightly more rows than ``customers``.
    """
    if customers < 1:
        raise ValueError("customers must be >= 1")
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    fakers = {}
    for i, (country, (locale, *_)) in enumerate(_COUNTRIES.items()):
        fakers[country] = _stable(Faker(locale))
        fakers[country].seed_instance(seed * len(_COUNTRIES) + i)
    people = _people(rng, fakers, customers, joined_on)
    distinct = [p for p in people if p.duplicate_of is None]
    consents = [row for p in distinct for row in _consents(rng, p)]
    policies, claims = _policies_and_claims(rng, distinct)
    seeded = Seeded(schema_columns())
    seeded.add("customers", (p.as_row() for p in people))
    seeded.add("consents", consents)
    seeded.add("policies", policies)
    seeded.add("claims", claims)
    _add_journey_rows(seeded, seed, distinct, joined_on, seeders)
    _write(db_path, seeded.tables())

    in_day = [p for p in people if p.joined_at.date() == joined_on]
    return SeedReport(
        db_path=db_path,
        customers=len(people),
        joined_on=joined_on,
        in_interval=len(in_day),
        defects={p.row_id: p.role for p in in_day if p.role in DEFECT_KINDS},
        suppressions={p.row_id: p.role for p in in_day if p.role in SUPPRESSION_KINDS},
    )


def _people(
    rng: random.Random, fakers: dict[str, Faker], customers: int, joined_on: date
) -> list[_Person]:
    """The customer rows, by join time: the interval's (with their planned defects and
    suppressions), the day before's, and the duplicates; ids follow join time."""
    used_emails: set[str] = set()

    def make(role: str | None, joined_at: datetime) -> _Person:
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


def _add_journey_rows(
    seeded: Seeded,
    seed: int,
    distinct: list[_Person],
    joined_on: date,
    seeders: Sequence[str],
) -> None:
    """Add the rows of the journeys' own ``seeders`` (:data:`JOURNEY_SEEDERS`), in order."""
    for name in seeders:
        # keyed by the module's name before it moved to devtools: the same demo data
        module_rng = random.Random(f"{seed}/{name.replace('.devtools', '')}")  # noqa: S311
        make_rows = importlib.import_module(name).rows
        sees = "seeded" in inspect.signature(make_rows).parameters
        extra = {"seeded": seeded} if sees else {}
        for table, rows in make_rows(module_rng, distinct, joined_on, **extra).items():
            seeded.add(table, rows)


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
) -> _Person:
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
    p = _Person(
        role=role,
        joined_at=joined_at,
        country=country,
        first_name=first,
        last_name=last,
        email=_email(rng, used_emails, first, last) if has_email else None,
        phone=_phone(rng, country) if channel == "sms" or rng.random() < 0.7 else None,
        language=_COUNTRIES[country][1],
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


def _duplicate(extra: _Person, original: _Person) -> _Person:
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


def _consents(rng: random.Random, p: _Person) -> list[tuple]:
    """Consent rows for one customer (none, or all denied, for 'no_consent')."""
    if p.role == "no_consent" and rng.random() < 0.5:
        return []  # no consent rows at all: the extract reads 0
    at = p.joined_at.strftime(_TS)
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


def _policies_and_claims(
    rng: random.Random, people: list[_Person]
) -> tuple[list[tuple], list[tuple]]:
    """1-2 policies per customer (starting on or after joining); claims for ~10%."""
    policies: list[tuple] = []
    claims: list[tuple] = []
    for p in people:
        joined = p.joined_at.date()
        mine = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            product = rng.choice(tuple(_PRODUCTS))
            start = joined + timedelta(days=rng.randrange(31))
            policy = (
                f"P{len(policies) + 1:07d}",
                p.customer_id,
                product,
                rng.randrange(*_PRODUCTS[product]),
                _COUNTRIES[p.country][3],
                start.isoformat(),
                (start + timedelta(days=364)).isoformat(),
                "active" if start <= joined else "pending",
            )
            policies.append(policy)
            mine.append(policy)
        p.policies = mine
        if rng.random() < 0.1:
            policy = rng.choice(mine)
            opened = datetime.fromisoformat(policy[5]) + timedelta(
                days=rng.randrange(1, 60), seconds=rng.randrange(86_400)
            )
            claim = (
                f"K{len(claims) + 1:07d}",
                policy[0],
                p.customer_id,
                opened.strftime(_TS),
                rng.choice(_CLAIM_STATUSES),
                rng.randrange(5_000, 2_500_000),
            )
            claims.append(claim)
            p.claims.append(claim)
    return policies, claims


def _write(db_path: Path, tables: Mapping[str, list[tuple]]) -> None:
    """Recreate the SQLite file from the schema and insert all rows in one transaction."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    with closing(sqlite3.connect(db_path)) as conn:
        conn.executescript((SQL_DIR / "core_schema.sql").read_text(encoding="utf-8"))
        with conn:
            for table, rows in tables.items():
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
