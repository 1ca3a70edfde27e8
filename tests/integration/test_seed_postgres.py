"""`missiva seed --url`: the demo core systems in Postgres hold exactly the SQLite rows."""

import sqlite3
from contextlib import closing
from datetime import date

from sqlalchemy import create_engine, text

from missiva.devtools.seed import seed
from missiva.devtools.seed_url import load_into, schema_statements


def test_seed_into_postgres_matches_sqlite(pg_url, tmp_path):
    db = tmp_path / "core.db"
    seed(db, customers=30, seed=3, joined_on=date(2026, 11, 2))
    copied = load_into(pg_url, db)
    assert load_into(pg_url, db) == copied  # again: tables recreated, no duplicates
    assert len(copied) == sum(s.upper().startswith("CREATE TABLE") for s in schema_statements())
    engine = create_engine(pg_url)
    try:
        with closing(sqlite3.connect(db)) as source, engine.connect() as conn:
            for table, count in copied.items():
                expected = sorted(map(tuple, source.execute(f"SELECT * FROM {table}")))
                got = sorted(map(tuple, conn.execute(text(f"SELECT * FROM {table}"))))
                assert got == expected, table
                assert count == len(expected)
    finally:
        engine.dispose()
