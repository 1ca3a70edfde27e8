"""What the ledger tests share: communications to record, and SQL behind the ledger's back.

Importable from any test package (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from missiva.records.ledger import Ledger
from missiva.records.migrations import VERSION_TABLE

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def fields(n: int, **overrides: Any) -> dict[str, Any]:
    """``Ledger.add`` arguments of customer ``n``'s welcome: the required fields only."""
    row = {
        "communication_id": f"00000000-0000-0000-0000-{n:012d}",
        "idempotency_key": f"onboarding/welcome/C{n:06d}/2026-11-02",
        "journey": "onboarding",
        "communication": "welcome",
        "business_key": "2026-11-02",
        "customer_id": f"C{n:06d}",
        "data_sha256": hashlib.sha256(str(n).encode()).hexdigest(),
        "status": "composed",
        "dag_id": "onboarding",
        "run_id": "scheduled__2026-11-02T00:00:00+00:00",
        "task_id": "compose",
    }
    row.update(overrides)
    return row


def email_fields(n: int, **overrides: Any) -> dict[str, Any]:
    """``fields(n)`` of a welcome e-mail to ``c{n}@example.com``."""
    return fields(n, **{"channel": "email", "recipient": f"c{n}@example.com", **overrides})


def cid(n: int) -> str:
    return fields(n)["communication_id"]


#: the Message-ID domain of the test ledgers' e-mails
DOMAIN = "missiva.example"


def message_id(n: int) -> str:
    """The Message-ID header of test e-mail ``n``."""
    return f"<{cid(n)}@{DOMAIN}>"


def send(ledger: Ledger, n: int, at: datetime, provider_id: str | None = None) -> None:
    """Move communication ``n`` from composed through sending to sent ``at`` (provider
    message id ``provider_id``, default ``Q{n}``)."""
    ledger.transition(cid(n), "composed", "sending", task_id="deliver")
    ledger.transition(
        cid(n), "sending", "sent", provider_message_id=provider_id or f"Q{n}", sent_at=at
    )


@contextmanager
def reported_emails(db_path: Path) -> Iterator[Ledger]:
    """E-mails 1-4 sent (provider ids Q1-Q4), 5 still composed, 6 and 7 sent with the
    same provider id (a provider's queue ids are not unique forever)."""
    with Ledger(f"sqlite:///{db_path}") as ledger:
        for n in range(1, 8):
            ledger.add(**email_fields(n))
        for n in (1, 2, 3, 4):
            send(ledger, n, T0)
        for n in (6, 7):
            send(ledger, n, T0, provider_id="Q-same")
        yield ledger


def _open(url: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    Ledger(url).close()


def open_at_once(url: str, processes: int = 2) -> list[int | None]:
    """Open ``Ledger(url)`` in ``processes`` processes at the same moment; their exit codes."""
    # fork: children start at once without re-importing (each opens its own engine)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    procs = [ctx.Process(target=_open, args=(url, barrier)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    return [p.exitcode for p in procs]


def raw_sql(db: str | Path, sql: str, **params: Any) -> list[Any]:
    """Run SQL behind the ledger's back (tampering, inspection); the rows it returns.

    ``db`` is a database URL, or the path of a SQLite file.
    """
    engine = create_engine(f"sqlite:///{db}" if isinstance(db, Path) else db)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


#: The tables of a ledger at the newest migration
TABLES = {
    "communications",
    "communication_blocks",
    "events",
    "journey_runs",
    "contact_log",
    "chain_state",
    "send_progress",
    "customer_keys",
    "legal_holds",
    VERSION_TABLE,
}
