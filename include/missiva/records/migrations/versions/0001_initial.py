"""The ledger schema: communications, their blocks, hash-chained events, journey runs.

Also adopts a ledger created before migrations existed (by ``create_all``, without a
version table): its tables are kept with their rows, the new columns, table and indexes
are added and the superseded single-column indexes dropped.

Revision ID: 0001
Revises:
Create Date: 2026-11-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PK = rowid

NEW_COMMUNICATION_COLUMNS = ("block_versions", "consent_state", "input_uri")

INDEXES: dict[str, dict[str, list[str]]] = {
    "communications": {
        "ix_communications_customer_created": ["customer_id", "created_at"],
        "ix_communications_scope": ["journey", "business_key"],
        "ix_communications_created_at": ["created_at"],
        "ix_communications_sent_at": ["sent_at"],
        "ix_communications_run_id": ["run_id"],
    },
    "communication_blocks": {
        "ix_communication_blocks_block_version": ["block", "version"],
    },
    "events": {
        "ix_events_communication_event": ["communication_id", "event_id"],
    },
}

# made by create_all before this revision; superseded by the composite indexes above
LEGACY_INDEXES = {
    "communications": (
        "ix_communications_customer_id",
        "ix_communications_journey",
        "ix_communications_business_key",
        "ix_communications_status",
    ),
    "events": ("ix_events_communication_id",),
}


def _communication_columns() -> list[sa.Column]:
    return [
        sa.Column("communication_id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("journey", sa.String(64), nullable=False),
        sa.Column("communication", sa.String(64), nullable=False),
        sa.Column("business_key", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("source_row_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("template", sa.String(128), nullable=True),
        sa.Column("template_version", sa.String(32), nullable=True),
        *_new_communication_columns(),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("artifact_sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("route_reason", sa.Text(), nullable=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_communications_idempotency_key"),
    ]


def _new_communication_columns() -> list[sa.Column]:
    return [
        sa.Column("block_versions", sa.Text(), nullable=True),
        sa.Column("consent_state", sa.Text(), nullable=True),
        sa.Column("input_uri", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    if op.get_context().as_sql:  # offline (--sql): DDL for an empty database
        inspector, existing = None, set()
    else:
        inspector = sa.inspect(op.get_bind())
        existing = set(inspector.get_table_names())

    if "communications" not in existing:
        op.create_table("communications", *_communication_columns())
    else:  # a pre-migration ledger: keep its rows, add what is new
        have = {c["name"] for c in inspector.get_columns("communications")}
        for column in _new_communication_columns():
            if column.name not in have:
                op.add_column("communications", column)

    op.create_table(
        "communication_blocks",
        sa.Column(
            "communication_id",
            sa.String(36),
            sa.ForeignKey(
                "communications.communication_id", name="fk_communication_blocks_communication"
            ),
            primary_key=True,
        ),
        sa.Column("block", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(32), nullable=False),
    )

    if "events" not in existing:
        op.create_table(
            "events",
            sa.Column("event_id", EVENT_ID, primary_key=True, autoincrement=True),
            sa.Column(
                "communication_id",
                sa.String(36),
                sa.ForeignKey("communications.communication_id", name="fk_events_communication"),
                nullable=False,
            ),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("detail", sa.Text(), nullable=False),
            sa.Column("at", TZ, nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
            sa.UniqueConstraint("hash", name="uq_events_hash"),
        )

    if "journey_runs" not in existing:
        op.create_table(
            "journey_runs",
            sa.Column("dag_id", sa.String(250), primary_key=True),
            sa.Column("run_id", sa.String(250), primary_key=True),
            sa.Column("journey", sa.String(64), nullable=False),
            sa.Column("business_key", sa.String(64), nullable=False),
            sa.Column("interval_start", TZ, nullable=False),
            sa.Column("interval_end", TZ, nullable=False),
            sa.Column("extracted", sa.Integer(), nullable=False),
            sa.Column("recorded_at", TZ, nullable=False),
        )

    for table, indexes in INDEXES.items():
        have = {ix["name"] for ix in inspector.get_indexes(table)} if table in existing else set()
        for name in LEGACY_INDEXES.get(table, ()):
            if name in have:
                op.drop_index(name, table_name=table)
        for name, columns in indexes.items():
            if name not in have:
                op.create_index(name, table, columns)


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
