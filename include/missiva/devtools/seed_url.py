"""The demo core systems in any SQLAlchemy database (e.g. Postgres), not only SQLite.

:func:`missiva.devtools.seed.seed` writes a SQLite file; :func:`seed_url` seeds one in a
temporary folder (so the rows are exactly the demo's) and :func:`load_into` copies it
into the database at a URL: the tables of ``include/sql/core_schema.sql`` are dropped if
they exist, created from that file (plain DDL that runs on both engines) and filled in
one transaction. ``missiva seed --url postgresql+psycopg://...`` calls it.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from contextlib import closing
from datetime import date
from pathlib import Path

from sqlalchemy import MetaData, create_engine, text

from missiva.paths import SQL_DIR

_TABLE_RE = re.compile(r"CREATE\s+TABLE\s+(\w+)", re.IGNORECASE)


def schema_statements() -> list[str]:
    """The statements of ``core_schema.sql``, comments removed."""
    lines = [
        line.split("--", 1)[0]
        for line in (SQL_DIR / "core_schema.sql").read_text(encoding="utf-8").splitlines()
    ]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def load_into(url: str, sqlite_path: Path) -> dict[str, int]:
    """Recreate the core-systems tables at ``url`` and copy every row of the SQLite core
    DB at ``sqlite_path`` into them; returns the rows copied per table."""
    statements = schema_statements()
    tables = [m.group(1) for stmt in statements if (m := _TABLE_RE.match(stmt))]
    copied: dict[str, int] = {}
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(tables):
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for stmt in statements:
                conn.execute(text(stmt))
            meta = MetaData()
            meta.reflect(conn, only=tables)
            with closing(sqlite3.connect(sqlite_path)) as source:
                source.row_factory = sqlite3.Row
                for table in tables:
                    rows = [dict(r) for r in source.execute(f"SELECT * FROM {table}")]
                    if rows:
                        conn.execute(meta.tables[table].insert(), rows)
                    copied[table] = len(rows)
    finally:
        engine.dispose()
    return copied


def seed_url(url: str, *, customers: int = 200, seed: int = 42, joined_on: date | None = None):
    """Seed the demo core systems (as :func:`missiva.devtools.seed.seed`) into ``url``;
    returns the seed's report (its ``db_path`` is the temporary SQLite file, gone)."""
    from missiva.devtools.seed import seed as seed_sqlite

    kwargs = {"customers": customers, "seed": seed}
    if joined_on is not None:
        kwargs["joined_on"] = joined_on
    with tempfile.TemporaryDirectory(prefix="missiva-seed-") as tmp:
        db = Path(tmp) / "core.db"
        report = seed_sqlite(db, **kwargs)
        load_into(url, db)
    return report
