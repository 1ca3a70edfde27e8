"""The streaming extract on Postgres: rows come from a server-side cursor a batch at a
time (the server holds the result, not the task), and they are the same rows; the source
system given as a ``postgres`` Connection of fields is reached through the Postgres
provider's hook."""

import json
from datetime import date

from onboarding_extract import END, START
from sqlalchemy import create_engine, make_url, text

from missiva.devtools.seed import seed
from missiva.devtools.seed_url import load_into
from missiva.journeys import ONBOARDING
from missiva.orchestration import connections
from missiva.settings import Settings
from missiva.sources.extract import extract_records, stream_records


def _other_sessions(url: str) -> list[tuple[str, str]]:
    """(application name, last statement) of the other sessions on the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    text(
                        "SELECT application_name, query FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ]
    finally:
        engine.dispose()


def _seeded(pg_url: str, tmp_path) -> list[dict]:
    """The demo core systems loaded into the database; the rows SQLite extracts from them."""
    db = tmp_path / "core.db"
    seed(db, customers=40, seed=5, joined_on=date(2026, 11, 2))
    load_into(pg_url, db)
    return extract_records(f"sqlite:///{db}", ONBOARDING, START, END)[1]


def test_rows_stream_from_a_server_side_cursor(pg_url, tmp_path):
    expected = _seeded(pg_url, tmp_path)
    batches = stream_records(pg_url, ONBOARDING, START, END, batch_size=4)
    streamed = list(next(batches)[1])
    assert len(streamed) == 4
    # mid-stream, the session is fetching from a cursor it declared on the server
    assert any("FETCH" in q.upper() for _, q in _other_sessions(pg_url))
    streamed += [r for _, rows in batches for r in rows]
    assert streamed == expected and len(expected) > 8


def test_a_postgres_connection_of_fields_extracts_through_the_providers_hook(
    pg_url, tmp_path, monkeypatch
):
    """host/port/login/schema, no URL: the hook builds it, with the Connection's extra
    ``sqlalchemy_query`` (here the session's application name, seen by the server)."""
    expected = _seeded(pg_url, tmp_path)
    url = make_url(pg_url)
    conn = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "password": url.password,
        "schema": url.database,
        "extra": {"sqlalchemy_query": {"application_name": "missiva-extract"}},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_CORE", json.dumps(conn))
    source = connections.source_url(Settings.from_env())
    assert make_url(source).drivername == "postgresql+psycopg"

    batches = stream_records(source, ONBOARDING, START, END, batch_size=4)
    streamed = list(next(batches)[1])
    sessions = _other_sessions(pg_url)
    assert any(a == "missiva-extract" and "FETCH" in q.upper() for a, q in sessions), sessions
    streamed += [r for _, rows in batches for r in rows]
    assert streamed == expected
