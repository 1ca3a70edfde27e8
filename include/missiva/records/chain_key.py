"""The ledger key: the secret the event chain and its anchors are HMACs under.

Whoever can write the ledger database but does not hold this key cannot recompute the
chain after editing it. Where it comes from, first found wins:

1. the key the orchestration layer installed for this process (:func:`install`: DAG
   tasks read it from the ``missiva_ledger_key`` Airflow Connection or secret);
2. the ``MISSIVA_LEDGER_KEY`` environment variable (the CLI, scripts);
3. :data:`DEMO_KEY`, only for an SQLite ledger (the embedded demo). A ledger on a
   database server is a production ledger: without a key it refuses to open
   (:class:`LedgerKeyMissing`).
"""

import os

from sqlalchemy.engine import make_url

from missiva.records.errors import LedgerError

ENV_VAR = "MISSIVA_LEDGER_KEY"
#: the documented demo key: public, so it protects nothing; for the embedded SQLite ledger
DEMO_KEY = "missiva-demo-ledger-key (public: set MISSIVA_LEDGER_KEY in production)"

_installed: str | None = None


class LedgerKeyMissing(LedgerError):
    """A production ledger was opened without its key."""


def install(key: str | None) -> None:
    """Use ``key`` for the ledgers this process opens (``None``: forget it)."""
    global _installed
    if key is not None and not key.strip():
        raise LedgerKeyMissing("the ledger key is empty")
    _installed = key


def resolve(url: str) -> bytes:
    """The key for the ledger at ``url`` (see the module's docstring for the order)."""
    key = _installed or os.environ.get(ENV_VAR)
    if key:
        return key.encode()
    if make_url(url).get_backend_name() == "sqlite":
        return DEMO_KEY.encode()
    raise LedgerKeyMissing(
        f"no ledger key for {make_url(url).render_as_string(hide_password=True)}: set "
        f"{ENV_VAR} (CLI) or the password of the missiva_ledger_key Airflow Connection (DAGs); "
        "the demo key is only for the embedded SQLite ledger"
    )
