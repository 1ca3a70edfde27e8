"""A new journey's seeder sees what was seeded before it (customers, billing accounts of
the billing seeder...), so new demo data is part of `missiva seed`, not hand SQL that the
next `make demo` wipes."""

import sqlite3
import textwrap
from contextlib import closing
from datetime import date

import pytest

from missiva.devtools.seed import JOURNEY_SEEDERS, seed

LOYALTY_SEEDER = '''
"""A test seeder: one loyalty credit line per billing account of an Italian customer."""


def rows(rng, customers, joined_on, seeded):
    italians = {c["customer_id"] for c in seeded.rows("customers") if c["country"] == "IT"}
    lines = []
    for account in seeded.rows("billing_accounts"):
        if account["customer_id"] in italians:
            lines.append((account["account_id"], "2026-10", 99, "Bonus fedelta", -500,
                          account["currency"], None, None))
    return {"statement_lines": lines}
'''


@pytest.fixture
def seeder(tmp_path, monkeypatch):
    """The module name of LOYALTY_SEEDER (written to an importable folder)."""
    (tmp_path / "seed_loyalty_test.py").write_text(textwrap.dedent(LOYALTY_SEEDER))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "seed_loyalty_test"


def _query(db, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def test_a_seeder_references_rows_of_earlier_seeders(tmp_path, seeder):
    db = tmp_path / "core.db"
    seed(db, customers=40, joined_on=date(2026, 11, 2), seeders=(*JOURNEY_SEEDERS, seeder))
    bonus = _query(
        db,
        "SELECT l.account_id, c.country FROM statement_lines AS l "
        "JOIN billing_accounts AS a USING (account_id) "
        "JOIN customers AS c ON c.customer_id = a.customer_id WHERE l.line_no = 99",
    )
    italian_accounts = _query(
        db,
        "SELECT DISTINCT a.account_id FROM billing_accounts AS a "
        "JOIN customers AS c ON c.customer_id = a.customer_id WHERE c.country = 'IT'",
    )
    assert bonus and {country for _, country in bonus} == {"IT"}
    assert {account for account, _ in bonus} == {a for (a,) in italian_accounts}
    assert len(_query(db, "SELECT * FROM statement_lines WHERE line_no = 99")) == len(
        italian_accounts
    ), "one line per account"


def test_the_demo_seeders_rows_do_not_change_with_a_new_seeder(tmp_path, seeder):
    plain, extended = tmp_path / "plain.db", tmp_path / "extended.db"
    seed(plain, customers=40)
    seed(extended, customers=40, seeders=(*JOURNEY_SEEDERS, seeder))
    sql = "SELECT * FROM statement_lines WHERE line_no != 99 ORDER BY account_id, period, line_no"
    assert _query(plain, sql) == _query(extended, sql)
    assert _query(plain, "SELECT * FROM billing_accounts") == _query(
        extended, "SELECT * FROM billing_accounts"
    )


def test_rows_for_a_table_the_schema_lacks_are_refused(tmp_path, monkeypatch):
    (tmp_path / "seed_typo_test.py").write_text(
        "def rows(rng, customers, joined_on):\n    return {'loyalty_bonuses': [(1,)]}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="'loyalty_bonuses': no such table"):
        seed(tmp_path / "core.db", customers=10, seeders=("seed_typo_test",))
