"""Tests for the demo core-systems seeder and the onboarding extract query."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from missiva.devtools.seed import DEFECT_KINDS, SeedReport, seed
from missiva.journeys import ONBOARDING
from missiva.paths import SQL_DIR
from missiva.sources.extract import sql_text

JOINED_ON = date(2026, 11, 2)
EXTRACT_COLUMNS = [
    "row_id",
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "language",
    "timezone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "preferred_channel",
    "do_not_contact",
    "joined_at",
    "consent_email_transactional",
    "consent_paper_transactional",
    "consent_sms_transactional",
    "policy_id",
    "product",
    "communication",
    "subject_key",
]
CONSENT_COLUMNS = [c for c in EXTRACT_COLUMNS if c.startswith("consent_")]
VALID_EMAIL = re.compile(r"^[a-z0-9.]+@example\.(com|org|net)$")


def dump(db_path: Path) -> list[str]:
    """Every statement needed to rebuild the DB (schema and rows)."""
    with closing(sqlite3.connect(db_path)) as conn:
        return list(conn.iterdump())


def extract(db_path: Path, day: date = JOINED_ON) -> tuple[list[str], list[dict]]:
    """Run onboarding_extract.sql through SQLAlchemy for the UTC day ``day``."""
    engine = sa.create_engine(f"sqlite:///{db_path}")
    query = sa.text(sql_text(SQL_DIR / "onboarding_extract.sql"))
    start = datetime.combine(day, time(), tzinfo=UTC)
    (reminder,) = ONBOARDING.sql_param_sets({}, start, start + timedelta(days=1))
    params = {
        "interval_start": f"{day} 00:00:00",
        "interval_end": f"{day + timedelta(days=1)} 00:00:00",
        **reminder,
    }
    try:
        with engine.connect() as conn:
            result = conn.execute(query, params)
            return list(result.keys()), [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def query(db_path: Path, sql: str, *args: object) -> list[tuple]:
    """Plain sqlite3 query helper."""
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> SeedReport:
    """A 400-customer demo DB shared by the read-only tests."""
    return seed(tmp_path_factory.mktemp("core") / "core.db", customers=400)


def test_same_seed_gives_identical_rows_and_other_seed_differs(tmp_path: Path) -> None:
    a = seed(tmp_path / "a.db", customers=150, seed=7)
    b = seed(tmp_path / "b.db", customers=150, seed=7)
    c = seed(tmp_path / "c.db", customers=150, seed=8)
    assert dump(a.db_path) == dump(b.db_path)
    assert (a.defects, a.suppressions) == (b.defects, b.suppressions)
    assert dump(a.db_path) != dump(c.db_path)


def test_reseeding_replaces_existing_file_and_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "core.db"
    seed(path, customers=300)
    report = seed(path, customers=30)
    assert query(path, "SELECT COUNT(*) FROM customers") == [(report.customers,)]


def test_size_and_interval_split(seeded: SeedReport) -> None:
    db = seeded.db_path
    assert query(db, "SELECT COUNT(*) FROM customers") == [(seeded.customers,)]
    distinct = query(db, "SELECT COUNT(DISTINCT customer_id) FROM customers")[0][0]
    assert distinct == 400
    duplicates = sum(kind == "duplicate_customer_id" for kind in seeded.defects.values())
    assert seeded.customers == 400 + duplicates // 2
    day_rows = query(db, "SELECT COUNT(*) FROM customers WHERE joined_at LIKE ?", f"{JOINED_ON}%")
    assert day_rows == [(seeded.in_interval,)]
    previous = seeded.customers - seeded.in_interval
    assert 0.07 * 400 <= previous <= 0.13 * 400
    prev_day = f"{JOINED_ON - timedelta(days=1)}%"
    assert query(db, "SELECT COUNT(*) FROM customers WHERE joined_at LIKE ?", prev_day) == [
        (previous,)
    ]
    assert query(db, "SELECT COUNT(*) FROM customers WHERE joined_at = ?", f"{JOINED_ON} 00:00:00")
    # Joins are spread through the day, not bunched.
    hours = {r[0] for r in query(db, "SELECT substr(joined_at, 12, 2) FROM customers")}
    assert len(hours) >= 20


def test_channel_mix_and_related_tables(seeded: SeedReport) -> None:
    db = seeded.db_path
    mix = dict(query(db, "SELECT preferred_channel, COUNT(*) FROM customers GROUP BY 1"))
    total = sum(mix.values())
    assert 0.50 <= mix["email"] / total <= 0.70
    assert 0.20 <= mix["paper"] / total <= 0.40
    assert 0.04 <= mix["sms"] / total <= 0.16
    # the base book (P...); journey seeders add their own (e.g. R..., renewals)
    policies = query(
        db, "SELECT customer_id, COUNT(*) FROM policies WHERE policy_id LIKE 'P%' GROUP BY 1"
    )
    assert len(policies) == 400 and {n for _, n in policies} == {1, 2}
    claimants = query(db, "SELECT COUNT(DISTINCT customer_id) FROM claims")[0][0]
    assert 0.04 * 400 <= claimants <= 0.18 * 400
    assert query(
        db, "SELECT COUNT(*) FROM claims WHERE policy_id NOT IN (SELECT policy_id FROM policies)"
    ) == [(0,)]
    assert {c for (c,) in query(db, "SELECT DISTINCT country FROM customers")} == {"IT", "GB"}
    pairs = set(query(db, "SELECT country, timezone FROM customers"))
    assert pairs == {("IT", "Europe/Rome"), ("GB", "Europe/London")}
    assert query(
        db,
        "SELECT COUNT(*) FROM customers WHERE preferred_channel = 'email' AND email IS NULL"
        " OR preferred_channel = 'sms' AND phone IS NULL",
    ) == [(0,)]
    assert (
        query(
            db, "SELECT COUNT(*) FROM customers WHERE preferred_channel = 'paper' AND email IS NULL"
        )[0][0]
        > 0
    )


@pytest.mark.parametrize("customers", [200, 1000])
def test_defect_share_and_every_kind_present(tmp_path: Path, customers: int) -> None:
    report = seed(tmp_path / "core.db", customers=customers)
    assert 0.05 <= len(report.defects) / report.in_interval <= 0.12
    assert set(report.defects.values()) == set(DEFECT_KINDS)
    assert not set(report.defects) & set(report.suppressions)
    kinds = Counter(report.suppressions.values())
    assert kinds["do_not_contact"] >= 1 and kinds["no_consent"] >= 1
    assert len(report.suppressions) / report.in_interval <= 0.08


def test_small_db_has_every_defect_and_suppression(tmp_path: Path) -> None:
    report = seed(tmp_path / "core.db", customers=20)
    assert set(report.defects.values()) == set(DEFECT_KINDS)
    assert set(report.suppressions.values()) == {"do_not_contact", "no_consent"}
    assert seed(tmp_path / "one.db", customers=1).customers == 1
    with pytest.raises(ValueError):
        seed(tmp_path / "none.db", customers=0)


def test_rows_carry_exactly_their_reported_defect_or_suppression(seeded: SeedReport) -> None:
    """Each reported row shows its defect; every other row of the day is clean."""
    _, rows = extract(seeded.db_path)
    by_customer = Counter(r["customer_id"] for r in rows)
    for r in rows:
        kind = seeded.defects.get(r["row_id"])
        email_ok = r["email"] is None or bool(VALID_EMAIL.match(r["email"]))
        flags = {
            "invalid_email": not email_ok,
            "missing_address": r["address_line1"] is None,
            "duplicate_customer_id": by_customer[r["customer_id"]] > 1,
            "crlf_in_name": "\r\nBcc: victim@example.com" in r["first_name"],
            "unsupported_language": r["language"] not in ("it", "en"),
        }
        assert [k for k, bad in flags.items() if bad] == ([kind] if kind else []), r
        if kind == "invalid_email":
            assert r["preferred_channel"] == "email"
        if kind == "missing_address":
            assert r["preferred_channel"] == "paper" and r["email"] is None
        suppression = seeded.suppressions.get(r["row_id"])
        assert (r["do_not_contact"] == 1) == (suppression == "do_not_contact"), r
        no_consent = r["consent_email_transactional"] == r["consent_paper_transactional"] == 0
        assert no_consent == (suppression == "no_consent"), r
        if not kind and not suppression:
            assert r[f"consent_{r['preferred_channel']}_transactional"] == 1, r
            assert r["postal_code"] and r["city"]
            assert r["policy_id"] is not None and r["product"]
    # A no_consent customer may have no consent rows at all; the extract reads 0.
    missing = query(
        seeded.db_path,
        "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS"
        " (SELECT 1 FROM consents k WHERE k.customer_id = c.customer_id)",
    )[0][0]
    assert missing <= len(seeded.suppressions)


def test_hostile_but_valid_names_are_clean_rows(seeded: SeedReport) -> None:
    _, rows = extract(seeded.db_path)
    clean = [r for r in rows if r["row_id"] not in seeded.defects | seeded.suppressions]
    names = {(r["first_name"], r["last_name"]) for r in clean}
    assert ("Marco", "{{ 7*7 }}") in names
    assert any(first == "<script>alert(1)</script>" for first, _ in names)
    assert any(first == "Ζωή" for first, _ in names)
    assert any(first == "李" for first, _ in names)
    assert any(last == "D'Angelo" for _, last in names)


def test_extract_returns_exactly_the_interval(seeded: SeedReport) -> None:
    columns, rows = extract(seeded.db_path)
    assert columns == EXTRACT_COLUMNS
    expected = [
        r[0]
        for r in query(
            seeded.db_path,
            "SELECT row_id FROM customers WHERE substr(joined_at, 1, 10) = ? ORDER BY row_id",
            JOINED_ON.isoformat(),
        )
    ]
    assert [r["row_id"] for r in rows] == expected
    assert len(rows) == seeded.in_interval
    joined = [r["joined_at"] for r in rows]
    assert f"{JOINED_ON} 00:00:00" in joined
    assert all(j.startswith(JOINED_ON.isoformat()) for j in joined)
    last_second_before = f"{JOINED_ON - timedelta(days=1)} 23:59:59"
    assert query(
        seeded.db_path, "SELECT COUNT(*) FROM customers WHERE joined_at = ?", last_second_before
    ) == [(1,)]
    assert last_second_before not in joined
    assert set(seeded.defects) | set(seeded.suppressions) <= set(expected)
    for r in rows:
        assert all(r[c] in (0, 1) for c in CONSENT_COLUMNS), r
    # The previous day is a separate interval holding the remaining rows.
    _, previous = extract(seeded.db_path, JOINED_ON - timedelta(days=1))
    assert len(previous) == seeded.customers - seeded.in_interval


def test_extract_picks_the_earliest_policy(seeded: SeedReport) -> None:
    policies: dict[str, list[tuple[str, str, str]]] = {}
    for customer_id, start, policy_id, product in query(
        seeded.db_path, "SELECT customer_id, start_date, policy_id, product FROM policies"
    ):
        policies.setdefault(customer_id, []).append((start, policy_id, product))
    _, rows = extract(seeded.db_path)
    for r in rows:
        _, policy_id, product = min(policies[r["customer_id"]])
        assert (r["policy_id"], r["product"]) == (policy_id, product)
    # Not trivially the lowest policy_id for every customer.
    assert any(min(p) != min(p, key=lambda x: x[1]) for p in policies.values())
