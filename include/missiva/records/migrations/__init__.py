"""Alembic migrations of the ledger schema, packaged with ``missiva`` (no alembic.ini).

``Ledger(url)`` brings the schema to :data:`HEAD` when it opens a database
(:func:`missiva.records.database.ensure_schema`); nothing else needs to run them. To author a new
revision from a checkout, with a database at the current head::

    from alembic import command
    from missiva.records.migrations import alembic_config

    cfg = alembic_config(url="sqlite:///var/ledger.db")
    command.revision(cfg, message="add x", autogenerate=True, rev_id="0002")

then set :data:`HEAD` to the new revision id (a unit test checks that it matches).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent

#: Alembic's version table for the ledger. Not ``alembic_version``, so the ledger can
#: share a database with another Alembic-managed schema (Airflow's metadata uses that).
VERSION_TABLE = "missiva_ledger_version"

#: The newest revision in ``versions/``: the fast path of ``Ledger(url)`` compares the
#: database's version with this constant without importing Alembic.
HEAD = "0007_customer_keys"


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic ``Config`` for these migrations, built in code.

    ``connection``: run on this connection, inside its current transaction (how
    ``Ledger`` upgrades). ``url``: let ``env.py`` connect itself (authoring revisions,
    ``--sql`` output for a DBA).
    """
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolation: a literal '%' in a path must be doubled
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> set[str]:
    """Every revision id in ``versions/``."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return {rev.revision for rev in script.walk_revisions()}


def upgrade(connection: Connection) -> None:
    """Upgrade to head on ``connection``, inside the transaction the caller holds."""
    from alembic import command

    command.upgrade(alembic_config(connection=connection), "head")
