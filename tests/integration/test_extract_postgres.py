"""The streaming extract on Postgres: rows come from a server-side cursor a batch at a
time (the server holds the result, not the task), and they are the same rows."""

from datetime import date

from onboarding_extract import END, START
from sqlalchemy import create_engine, text

from missiva.devtools.seed import seed
from missiva.devtools.seed_url import load_into
from missiva.journeys import ONBOARDING
from missiva.sources.extract import extract_records, stream_records


def _last_statements(url: str) -> list[str]:
    """What the other sessions on the database ran last."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT query FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def test_rows_stream_from_a_server_side_cursor(pg_url, tmp_path):
    db = tmp_path / "core.db"
    seed(db, customers=40, seed=5, joined_on=date(2026, 11, 2))
    load_into(pg_url, db)
    expected = extract_records(f"sqlite:///{db}", ONBOARDING, START, END)[1]

    batches = stream_records(pg_url, ONBOARDING, START, END, batch_size=4)
    streamed = list(next(batches)[1])
    assert len(streamed) == 4
    # mid-stream, the session is fetching from a cursor it declared on the server
    assert any("FETCH" in q.upper() for q in _last_statements(pg_url))
    streamed += [r for _, rows in batches for r in rows]
    assert streamed == expected and len(expected) > 8
