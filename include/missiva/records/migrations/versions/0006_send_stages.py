"""How far each send got and who holds it (``send_progress``): the stage (before the
data, data handed over, or a fallback owed after a failure) and the sender's lease
(owner, expiry), so recovery resends only what never reached the server and acts only
on dead senders (see :mod:`missiva.records.send_progress`).

Revision ID: 0006_send_stages
Revises: 0005_keyed_chain
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_send_stages"
down_revision: str | None = "0005_keyed_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_progress",
        sa.Column(
            "communication_id",
            sa.String(36),
            sa.ForeignKey("communications.communication_id", name="fk_send_progress_communication"),
            primary_key=True,
        ),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(512), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
