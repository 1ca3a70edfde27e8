"""Alembic environment for the ledger: configured in code by ``missiva.records.migrations``."""

from alembic import context
from sqlalchemy import create_engine

import missiva.routing.contact_policy  # noqa: F401  (declares contact_log on Base.metadata)
from missiva.records.migrations import VERSION_TABLE
from missiva.records.models import Base

config = context.config
options = {"target_metadata": Base.metadata, "version_table": VERSION_TABLE, "compare_type": True}


def _run_on(connection) -> None:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    # Ledger's upgrade: the caller holds the transaction (and the lock around it)
    _run_on(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "missiva migrations: pass a connection or url to "
            "missiva.records.migrations.alembic_config"
        )
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run_on(conn)
    finally:
        engine.dispose()
