"""Per-customer data keys (envelope encryption of the archive) and legal holds.

``customer_keys``: one AES-256 data key per customer identity, wrapped by the master
key (``master_id`` names which one); erasing a customer drops ``wrapped`` and records
when, by whom and why. ``legal_holds``: customers whose records must not be erased.

Revision ID: 0007_customer_keys
Revises: 0006_send_stages
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_customer_keys"
down_revision: str | None = "0006_send_stages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=True),
        sa.Column("master_id", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_by", sa.Text(), nullable=True),
        sa.Column("erase_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_customer_keys_customer", "customer_keys", ["customer_id", "created_at"])
    op.create_table(
        "legal_holds",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.Text(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
