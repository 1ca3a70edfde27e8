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

from missiva.records.errors import LedgerError
from missiva.records.process_secret import ProcessSecret

ENV_VAR = "MISSIVA_LEDGER_KEY"
#: the documented demo key: public, so it protects nothing; for the embedded SQLite ledger
DEMO_KEY = "missiva-demo-ledger-key (public: set MISSIVA_LEDGER_KEY in production)"


class LedgerKeyMissing(LedgerError):
    """A production ledger was opened without its key."""


SECRET = ProcessSecret("ledger key", ENV_VAR, "missiva_ledger_key", DEMO_KEY, LedgerKeyMissing)
#: Use a key for the ledgers this process opens (``None``: forget it)
install = SECRET.install


def resolve(url: str) -> bytes:
    """The key for the ledger at ``url`` (see the module's docstring for the order)."""
    return SECRET.resolve(url).encode()
