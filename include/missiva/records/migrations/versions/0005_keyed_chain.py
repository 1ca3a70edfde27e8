"""The event chain becomes keyed (HMAC-SHA256 under the ledger key) from this revision on.

Events already recorded keep their plain SHA-256 hashes: nobody holds a key they were
made with. ``chain_state`` records where the keyed part starts and the legacy head (the
last unkeyed hash, which the first keyed event links to); the first anchor written after
the upgrade repeats both outside the ledger.

Revision ID: 0005_keyed_chain
Revises: 0004_reference_code
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_keyed_chain"
down_revision: str | None = "0004_reference_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    state = op.create_table(
        "chain_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("keyed_from", sa.BigInteger(), nullable=False),
        sa.Column("legacy_head", sa.String(64), nullable=False),
        sa.Column("legacy_events", sa.BigInteger(), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # plain SQL, so ``--sql`` output for a DBA carries it too
    op.execute(
        f"INSERT INTO {state.name} (id, keyed_from, legacy_head, legacy_events, migrated_at) "
        "SELECT 1, COALESCE(MAX(event_id), 0) + 1, "
        "COALESCE((SELECT hash FROM events ORDER BY event_id DESC LIMIT 1), "
        f"'{GENESIS_HASH}'), COUNT(*), CURRENT_TIMESTAMP FROM events"
    )


def downgrade() -> None:
    raise NotImplementedError("the audit ledger is never downgraded: restore a backup instead")
