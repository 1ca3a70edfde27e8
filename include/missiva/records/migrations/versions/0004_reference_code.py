"""Communications carry the reference customers read out (``MSV-7K3F-Q9XD-2H``), derived
from the communication id and searchable (``missiva audit trace --reference``). Existing
rows are filled in (online upgrades only: the reference is a SHA-256 of the id, computed
in Python).

Revision ID: 0004_reference_code
Revises: 0003_handled_before
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from missiva.reference import reference_code

revision: str = "0004_reference_code"
down_revision: str | None = "0003_handled_before"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communications") as batch:
        batch.add_column(sa.Column("reference", sa.String(16), nullable=True))
        batch.create_index("ix_communications_reference", ["reference"])
    if op.get_context().as_sql:  # offline SQL for a DBA: rows of before stay without one
        return
    table = sa.table(
        "communications", sa.column("communication_id", sa.String), sa.column("reference")
    )
    connection = op.get_bind()
    ids = connection.execute(sa.select(table.c.communication_id)).scalars().all()
    for communication_id in ids:
        connection.execute(
            table.update()
            .where(table.c.communication_id == communication_id)
            .values(reference=reference_code(communication_id))
        )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
