"""The claims letters extract on the seeded demo data: the half-open interval on
occurred_at, one row per event (also for a customer number with two customer rows), the
letter each event kind asks for, and the event as the idempotency subject."""

import sqlite3
from datetime import UTC, date, datetime

from missiva.devtools.seed import seed
from missiva.journeys.claims_letters import CLAIMS_LETTERS
from missiva.sources.extract import extract

DAY = datetime(2026, 11, 2, tzinfo=UTC)
NEXT = datetime(2026, 11, 3, tzinfo=UTC)


def test_extract_answers_each_event_of_the_interval_once(tmp_path):
    db = tmp_path / "core.db"
    seed(db, customers=40, seed=7, joined_on=date(2026, 11, 2))
    with sqlite3.connect(db) as conn:
        # a second customers row for the first claimant (a source defect)
        (customer,) = conn.execute(
            "SELECT customer_id FROM claim_events WHERE event_id = 2"
        ).fetchone()
        conn.execute(
            "INSERT INTO customers SELECT row_id + 1000, customer_id, first_name, last_name, email,"
            " phone, language, timezone, address_line1, address_line2, postal_code, city, country,"
            " preferred_channel, do_not_contact, joined_at FROM customers WHERE customer_id = ?",
            (customer,),
        )
        expected = dict(
            conn.execute(
                "SELECT event_id, kind FROM claim_events"
                " WHERE occurred_at >= ? AND occurred_at < ?",
                ("2026-11-02 00:00:00", "2026-11-03 00:00:00"),
            ).fetchall()
        )
    rows = extract(f"sqlite:///{db}", CLAIMS_LETTERS.extract_sql, DAY, NEXT).to_dict("records")

    assert sorted(r["row_id"] for r in rows) == sorted(expected)
    assert {r["occurred_at"] for r in rows} >= {"2026-11-02 00:00:00"}
    assert max(r["occurred_at"] for r in rows) < "2026-11-03 00:00:00"
    for row in rows:
        assert row["subject_key"] == f"event-{row['row_id']}"
        assert CLAIMS_LETTERS.communication_for(row) == f"claim_{expected[row['row_id']]}"
