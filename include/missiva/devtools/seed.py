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
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from missiva.devtools.seed_people import (
    COUNTRIES,
    DEFECT_KINDS,
    SUPPRESSION_KINDS,
    TS,
    Person,
    consents,
    make_fakers,
    people,
)
from missiva.devtools.seeders import JOURNEY_SEEDERS
from missiva.paths import SQL_DIR

_PRODUCTS = {  # product -> premium range in cents
    "Home": (18_000, 90_000),
    "Motor": (30_000, 180_000),
    "Life": (24_000, 240_000),
    "Travel": (4_000, 25_000),
    "Health": (40_000, 300_000),
}
_CLAIM_STATUSES = ("open", "in_review", "settled", "rejected")


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
    rows = people(rng, make_fakers(seed), customers, joined_on)
    distinct = [p for p in rows if p.duplicate_of is None]
    consent_rows = [row for p in distinct for row in consents(rng, p)]
    policies, claims = _policies_and_claims(rng, distinct)
    seeded = Seeded(schema_columns())
    seeded.add("customers", (p.as_row() for p in rows))
    seeded.add("consents", consent_rows)
    seeded.add("policies", policies)
    seeded.add("claims", claims)
    _add_journey_rows(seeded, seed, distinct, joined_on, seeders)
    _write(db_path, seeded.tables())

    in_day = [p for p in rows if p.joined_at.date() == joined_on]
    return SeedReport(
        db_path=db_path,
        customers=len(rows),
        joined_on=joined_on,
        in_interval=len(in_day),
        defects={p.row_id: p.role for p in in_day if p.role in DEFECT_KINDS},
        suppressions={p.row_id: p.role for p in in_day if p.role in SUPPRESSION_KINDS},
    )


def _add_journey_rows(
    seeded: Seeded,
    seed: int,
    distinct: list[Person],
    joined_on: date,
    seeders: Sequence[str],
) -> None:
    """Add the rows of the journeys' own ``seeders`` (:data:`JOURNEY_SEEDERS`), in order."""
    for name in seeders:
        # keyed by the name the module had before it moved to devtools/seeders
        # (missiva.seed_<module>): the same demo data
        legacy_name = f"missiva.seed_{name.rpartition('.')[2]}"
        module_rng = random.Random(f"{seed}/{legacy_name}")  # noqa: S311
        make_rows = importlib.import_module(name).rows
        sees = "seeded" in inspect.signature(make_rows).parameters
        extra = {"seeded": seeded} if sees else {}
        for table, rows in make_rows(module_rng, distinct, joined_on, **extra).items():
            seeded.add(table, rows)


def _policies_and_claims(
    rng: random.Random, people: list[Person]
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
                COUNTRIES[p.country][3],
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
                opened.strftime(TS),
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
