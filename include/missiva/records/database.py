"""The ledger database: engines fit for chained writes, locks, and the schema at head.

Writers append to the event chain one at a time: SQLite takes its write lock up front
(``BEGIN IMMEDIATE`` for a connection with the ``missiva_write`` option), Postgres a
transaction-scoped advisory lock (:data:`CHAIN_LOCK`).
"""

import hashlib
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from missiva.records.errors import LedgerSchemaError
from missiva.records.migrations import HEAD, VERSION_TABLE


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


CHAIN_LOCK = lock_key("missiva.ledger.events")
MIGRATION_LOCK = lock_key("missiva.ledger.migrations")
ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))")
# Alembic's ``context`` is process-global: one upgrade at a time per process
_UPGRADING = threading.Lock()
#: how long a new SQLite connection waits for a lock held by another process
_SQLITE_BUSY_S = 30.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself, see _sqlite_begin
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
    # Switching to WAL upgrades a shared lock to an exclusive one; SQLite answers "database
    # is locked" at once (no busy wait, to avoid a deadlock) while another process is
    # creating the schema, so retry until that process commits.
    deadline = time.monotonic() + _SQLITE_BUSY_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take the write lock up front so they extend the event chain in turn."""
    write = conn.get_execution_options().get("missiva_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def prepare_engine(engine: Engine) -> Engine:
    """Make ``engine`` fit for ledger writes (SQLite: WAL, busy timeout, writers lock up
    front); a no-op when already done or for another database."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "begin", _sqlite_begin):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def open_engine(url: str) -> Engine:
    """An engine on the ledger database at ``url``, fit for ledger writes."""
    # hide_parameters: a database error (in a task log) shows the SQL, not the values
    return prepare_engine(create_engine(url, hide_parameters=True))


def _stored_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database (``None``: no version table yet)."""
    try:
        with conn.begin_nested() if conn.in_transaction() else conn.begin():
            return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    except DBAPIError:
        return None


def ensure_schema(engine: Engine) -> None:
    """Upgrade the ledger schema to :data:`~missiva.records.migrations.HEAD`.

    One query when already at head. Otherwise the upgrade runs in one transaction
    under a lock (SQLite: ``BEGIN IMMEDIATE``; Postgres: an advisory lock), re-reading
    the revision once the lock is held, so concurrent openers migrate exactly once.
    """
    with engine.connect() as conn:
        if _stored_revision(conn) == HEAD:
            return
    writer = engine.execution_options(missiva_write=True)
    with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(ADVISORY_LOCK, {"key": MIGRATION_LOCK})
        current = _stored_revision(conn)
        if current == HEAD:
            return
        from missiva.records import migrations

        if current is not None and current not in migrations.known_revisions():
            raise LedgerSchemaError(
                f"the ledger schema is at revision {current!r}, unknown to this version of "
                f"missiva (head {HEAD!r}); upgrade missiva"
            )
        with _UPGRADING:
            migrations.upgrade(conn)
