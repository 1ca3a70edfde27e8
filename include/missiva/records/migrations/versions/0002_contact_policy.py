"""The contact policy's log: one row per contact reserved for a customer.

Frequency caps count a customer's rows per purpose in a rolling window (the index);
the unique constraint lets a content key be reserved once per customer, whatever the
channel (see :mod:`missiva.routing.contact_policy`).

Revision ID: 0002_contact_policy
Revises: 0001
Create Date: 2026-11-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_contact_policy"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_log",
        sa.Column("communication_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("content_key", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("customer_id", "content_key", name="uq_contact_log_customer_content"),
    )
    op.create_index(
        "ix_contact_log_customer_purpose_at", "contact_log", ["customer_id", "purpose", "at"]
    )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
