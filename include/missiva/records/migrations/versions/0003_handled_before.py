"""Journey runs count the records an earlier run of another business key already handled
(a subject found again, e.g. after a journey's windows changed), so a run still adds up.

Revision ID: 0003_handled_before
Revises: 0002_contact_policy
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_handled_before"
down_revision: str | None = "0002_contact_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journey_runs") as batch:
        batch.add_column(
            sa.Column("handled_before", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
