"""Tests for the extract (SQL on a seeded core DB); the validation gate (Great Expectations)
is tested in tests/component/test_validation_gate.py."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest
from onboarding_extract import (
    END,
    SCHEMA,
    START,
)

from missiva.devtools.seed import SeedReport
from missiva.journeys import ONBOARDING
from missiva.sources.extract import ExtractError, extract_journey


def broken_copy(seeded: SeedReport, tmp_path: Path, *statements: str) -> str:
    """A copy of the core DB with ``statements`` applied; its SQLAlchemy URL."""
    path = tmp_path / "broken.db"
    shutil.copy(seeded.db_path, path)
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in statements:
            conn.execute(statement)
    return f"sqlite:///{path}"


# --- extract ------------------------------------------------------------------------


def test_extract_returns_the_intervals_rows(seeded: SeedReport, records: list[dict]) -> None:
    assert len(records) == seeded.in_interval
    assert seeded.in_interval < seeded.customers  # some rows are outside the interval
    assert list(records[0]) == SCHEMA
    for record in records:
        assert "2026-11-02 00:00:00" <= record["joined_at"] < "2026-11-03 00:00:00"
    row_ids = [r["row_id"] for r in records]
    assert row_ids == sorted(row_ids)
    assert set(seeded.defects) | set(seeded.suppressions) <= set(row_ids)


def test_extract_interval_is_half_open(seeded: SeedReport, records: list[dict]) -> None:
    times = sorted(r["joined_at"] for r in records)
    assert times[0] == "2026-11-02 00:00:00"
    assert times[-1] == "2026-11-02 23:59:59"
    previous = extract_journey(
        f"sqlite:///{seeded.db_path}", ONBOARDING, START - timedelta(days=1), START
    )
    assert "2026-11-01 23:59:59" in set(previous["joined_at"])
    assert len(previous) + len(records) == seeded.customers


def test_extract_uses_python_values_and_none_for_null(records: list[dict]) -> None:
    assert any(r["address_line2"] is None for r in records)
    assert all(isinstance(r["row_id"], int) for r in records)
    assert all(r["consent_email_transactional"] in (0, 1) for r in records)


def test_extract_of_an_empty_interval_keeps_the_schema(seeded: SeedReport) -> None:
    day = datetime(2030, 1, 1, tzinfo=UTC)
    frame = extract_journey(f"sqlite:///{seeded.db_path}", ONBOARDING, day, day + timedelta(days=1))
    assert len(frame) == 0
    assert list(frame.columns) == SCHEMA


def test_extract_converts_aware_datetimes_to_utc(seeded: SeedReport, records) -> None:
    rome = ZoneInfo("Europe/Rome")  # UTC+1 in November
    start, end = START.astimezone(rome), END.astimezone(rome)
    assert (start, end) == (START, END)  # the same instants
    frame = extract_journey(f"sqlite:///{seeded.db_path}", ONBOARDING, start, end)
    assert list(frame["row_id"]) == [r["row_id"] for r in records]


def test_extract_with_missing_table_names_it(seeded: SeedReport, tmp_path: Path) -> None:
    url = broken_copy(seeded, tmp_path, "DROP TABLE customers")
    with pytest.raises(ExtractError, match="customers") as caught:
        extract_journey(url, ONBOARDING, START, END)
    assert "onboarding_extract.sql" in str(caught.value)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE customers DROP COLUMN email",
        "ALTER TABLE customers RENAME COLUMN email TO email_address",
    ],
    ids=["dropped", "renamed"],
)
def test_extract_with_missing_column_names_it(
    seeded: SeedReport, tmp_path: Path, statement: str
) -> None:
    url = broken_copy(seeded, tmp_path, statement)
    with pytest.raises(ExtractError, match=r"no such column: c\.email"):
        extract_journey(url, ONBOARDING, START, END)


def test_extract_with_rebuilt_table_without_column(seeded: SeedReport, tmp_path: Path) -> None:
    """The customers table rebuilt by hand (as an old SQLite would have to) without email."""
    with closing(sqlite3.connect(seeded.db_path)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(customers)")]
    kept = ", ".join(c for c in columns if c != "email")
    url = broken_copy(
        seeded,
        tmp_path,
        f"CREATE TABLE customers_new AS SELECT {kept} FROM customers",
        "DROP TABLE customers",
        "ALTER TABLE customers_new RENAME TO customers",
    )
    with pytest.raises(ExtractError, match=r"email"):
        extract_journey(url, ONBOARDING, START, END)


def test_extract_sql_expands_the_shared_macros_and_binds_every_value(tmp_path) -> None:
    """Extract SQL files share pieces through Jinja macros (static SQL); values stay bound."""
    from missiva.paths import SQL_DIR
    from missiva.sources.extract import sql_text

    for sql_file in SQL_DIR.glob("*_extract.sql"):
        statement = sql_text(sql_file)
        assert "{{" not in statement and "{%" not in statement, sql_file.name
        assert "consent_email_transactional" in statement, sql_file.name
    (tmp_path / "bad_extract.sql").write_text("SELECT {{ undefined_macro() }}")
    with pytest.raises(jinja2.UndefinedError):
        sql_text(tmp_path / "bad_extract.sql")


def test_extract_without_a_parameter_its_sql_binds_names_it(seeded: SeedReport) -> None:
    from missiva.journeys.on_demand_document import ON_DEMAND_DOCUMENT

    with pytest.raises(ExtractError) as caught:
        extract_journey(f"sqlite:///{seeded.db_path}", ON_DEMAND_DOCUMENT, START, END)
    message = str(caught.value)
    assert message.startswith("extract on_demand_document_extract.sql: ")
    assert "bind parameter" in message and "SELECT" not in message


# --- streaming --------------------------------------------------------------------------


def test_stream_yields_bounded_batches_of_the_same_rows(seeded: SeedReport, records) -> None:
    from missiva.sources.extract import stream_records

    url = f"sqlite:///{seeded.db_path}"
    batches = list(stream_records(url, ONBOARDING, START, END, batch_size=7))
    assert len(batches) == -(-len(records) // 7) > 1
    assert all(len(rows) <= 7 for _, rows in batches)
    assert all(columns == SCHEMA for columns, _ in batches)
    assert [r for _, rows in batches for r in rows] == records


def test_stream_of_an_empty_interval_yields_the_columns(seeded: SeedReport) -> None:
    from missiva.sources.extract import stream_records

    day = datetime(2030, 1, 1, tzinfo=UTC)
    url = f"sqlite:///{seeded.db_path}"
    assert list(stream_records(url, ONBOARDING, day, day + timedelta(days=1))) == [(SCHEMA, [])]
