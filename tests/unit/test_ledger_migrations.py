"""The ledger's schema is managed by Alembic migrations that ``Ledger(url)`` applies (SQLite)."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from ledger_fixtures import TABLES, cid, fields, raw_sql, recorded_statements
from sqlalchemy import inspect

import missiva
import missiva.privacy.models  # declares customer_keys and legal_holds on Base.metadata
import missiva.routing.contact_policy  # declares contact_log on Base.metadata
from missiva.records.errors import LedgerSchemaError
from missiva.records.ledger import Ledger
from missiva.records.migrations import HEAD, MIGRATIONS_DIR, VERSION_TABLE, alembic_config
from missiva.records.models import Base


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def stored_revisions(url: str) -> list[str]:
    return [r[0] for r in raw_sql(url, f"SELECT version_num FROM {VERSION_TABLE}")]


def test_open_migrates_an_empty_database_to_head(url: str) -> None:
    ledger = Ledger(url)
    assert set(inspect(ledger.engine).get_table_names()) == TABLES
    assert stored_revisions(url) == [HEAD]
    assert ledger.count() == 0


def test_head_constant_is_the_newest_revision() -> None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert script.get_heads() == [HEAD]  # one linear history, HEAD kept up to date


def test_migrations_live_inside_the_package() -> None:
    assert Path(missiva.__file__).parent / "records" / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_the_migrated_schema_matches_the_models(url: str) -> None:
    """Autogenerate finds nothing to do: migrations and ORM models agree."""
    ledger = Ledger(url)
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_reopening_at_head_is_one_query_and_no_ddl(url: str) -> None:
    Ledger(url)
    with recorded_statements() as statements:
        Ledger(url)
    queries = [s for s in statements if s not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert queries == [f"SELECT version_num FROM {VERSION_TABLE}"]
    assert stored_revisions(url) == [HEAD]


def test_reopening_keeps_the_data(url: str) -> None:
    Ledger(url).add(**fields(1), blocks={"privacy": "3"})
    again = Ledger(url)
    assert again.count() == 1
    assert again.blocks(cid(1)) == {"privacy": "3"}
    assert again.verify_chain() == []


def test_an_unknown_revision_is_refused(url: str) -> None:
    Ledger(url)
    raw_sql(url, f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(LedgerSchemaError, match="'9999', unknown"):
        Ledger(url)


def test_upgrade_false_leaves_the_schema_alone(url: str) -> None:
    ledger = Ledger(url, upgrade=False)
    assert inspect(ledger.engine).get_table_names() == []


def test_offline_sql_for_a_dba() -> None:
    """``alembic_config(url=...)`` without ini: the DDL a DBA can review and apply."""
    cfg = alembic_config(url="postgresql+psycopg://missiva@db.invalid/ledger")
    cfg.output_buffer = io.StringIO()
    command.upgrade(cfg, "head", sql=True)
    ddl = cfg.output_buffer.getvalue()
    assert "CREATE TABLE communication_blocks" in ddl
    assert "CREATE INDEX ix_communication_blocks_block_version" in ddl
    assert "event_id BIGSERIAL" in ddl
    assert "CREATE TABLE contact_log" in ddl
    assert f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('0001')" in ddl
    assert f"UPDATE {VERSION_TABLE} SET version_num='{HEAD}'" in ddl


# --- a ledger created before migrations existed (Base.metadata.create_all) -------------

LEGACY_DDL = """
CREATE TABLE communications (
    communication_id VARCHAR(36) NOT NULL, idempotency_key VARCHAR(255) NOT NULL,
    journey VARCHAR(64) NOT NULL, communication VARCHAR(64) NOT NULL,
    business_key VARCHAR(64) NOT NULL, customer_id VARCHAR(64), source_row_id INTEGER,
    channel VARCHAR(16), recipient TEXT, template VARCHAR(128), template_version VARCHAR(32),
    data_sha256 VARCHAR(64) NOT NULL, artifact_uri TEXT, artifact_sha256 VARCHAR(64),
    status VARCHAR(16) NOT NULL, reason TEXT, route_reason TEXT, dag_id VARCHAR(250) NOT NULL,
    run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, try_number INTEGER NOT NULL,
    provider_message_id TEXT, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    sent_at DATETIME, PRIMARY KEY (communication_id), UNIQUE (idempotency_key)
);
CREATE INDEX ix_communications_customer_id ON communications (customer_id);
CREATE INDEX ix_communications_run_id ON communications (run_id);
CREATE INDEX ix_communications_business_key ON communications (business_key);
CREATE INDEX ix_communications_journey ON communications (journey);
CREATE INDEX ix_communications_status ON communications (status);
CREATE TABLE journey_runs (
    dag_id VARCHAR(250) NOT NULL, run_id VARCHAR(250) NOT NULL, journey VARCHAR(64) NOT NULL,
    business_key VARCHAR(64) NOT NULL, interval_start DATETIME NOT NULL,
    interval_end DATETIME NOT NULL, extracted INTEGER NOT NULL, recorded_at DATETIME NOT NULL,
    PRIMARY KEY (dag_id, run_id)
);
CREATE TABLE events (
    event_id INTEGER NOT NULL, communication_id VARCHAR(36) NOT NULL, kind VARCHAR(32) NOT NULL,
    detail TEXT NOT NULL, at DATETIME NOT NULL, prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL, PRIMARY KEY (event_id),
    FOREIGN KEY(communication_id) REFERENCES communications (communication_id), UNIQUE (hash)
);
CREATE INDEX ix_events_communication_id ON events (communication_id);
"""


def test_a_ledger_from_before_migrations_is_adopted(url: str, tmp_path: Path) -> None:
    at = "2026-11-02 08:00:00.000000"
    detail = json.dumps({"reason": None, "task": "compose"}, sort_keys=True)
    payload = json.dumps(["0" * 64, "c-1", "composed", detail, "2026-11-02T08:00:00+00:00"])
    old_hash = hashlib.sha256(payload.encode()).hexdigest()
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn, conn:
        conn.executescript(LEGACY_DDL)
        conn.execute(
            "INSERT INTO communications VALUES (?, ?, 'onboarding', 'welcome', '2026-11-02', "
            "'C1', 1, 'email', 'a@example.com', 'welcome', 'v1', ?, NULL, NULL, 'composed', "
            "NULL, NULL, 'onboarding', 'manual__1', 'compose', 1, NULL, ?, ?, NULL)",
            ("c-1", "onboarding/welcome/C1/2026-11-02", "ab" * 32, at, at),
        )
        conn.execute(
            "INSERT INTO events VALUES (1, 'c-1', 'composed', ?, ?, ?, ?)",
            (detail, at, "0" * 64, old_hash),
        )

    ledger = Ledger(url)
    assert stored_revisions(url) == [HEAD]
    assert set(inspect(ledger.engine).get_table_names()) == TABLES
    indexes = {ix["name"] for ix in inspect(ledger.engine).get_indexes("communications")}
    assert "ix_communications_customer_created" in indexes
    assert "ix_communications_status" not in indexes
    row = ledger.get("c-1")
    assert (row.recipient, row.block_versions, row.input_uri) == ("a@example.com", None, None)
    # the old events still chain; the old row simply has no digest to check against
    assert ledger.verify_chain() == [
        "communication c-1: its latest event 1 records no row digest "
        "(recorded before row digests existed, or edited)"
    ]
    # new writes extend the old chain, with digests
    ledger.transition("c-1", "composed", "sending")
    assert ledger.events()[1].prev_hash == old_hash
    assert ledger.verify_chain() == []
