"""The master key: the secret that wraps every customer's data key in the ledger.

Where it comes from, first found wins (:mod:`missiva.records.process_secret`):

1. the key the orchestration layer installed for this process (:func:`install`: DAG
   tasks read it from the ``missiva_master_key`` Airflow Connection or secret);
2. the ``MISSIVA_MASTER_KEY`` environment variable (the CLI, scripts);
3. :data:`DEMO_KEY`, only for an SQLite ledger (the embedded demo). A ledger on a
   database server refuses to seal or open anything without one (:class:`MasterKeyMissing`).
"""

import hashlib
from dataclasses import dataclass

from missiva.records.errors import LedgerError
from missiva.records.process_secret import ProcessSecret

ENV_VAR = "MISSIVA_MASTER_KEY"
CONN_ID = "missiva_master_key"
#: the documented demo key: public, so it protects nothing; for the embedded SQLite ledger
DEMO_KEY = "missiva-demo-master-key (public: set MISSIVA_MASTER_KEY in production)"


class MasterKeyMissing(LedgerError):
    """Customer keys of a production ledger were needed without the master key."""


@dataclass(frozen=True)
class MasterKey:
    """The AES-256 key derived from a master secret, and the id naming that secret."""

    key: bytes
    id: str

    @classmethod
    def of(cls, secret: str) -> "MasterKey":
        if not secret.strip():
            raise MasterKeyMissing("the master key is empty")
        material = secret.encode()
        return cls(
            hashlib.sha256(b"missiva-master-key/aes\0" + material).digest(),
            hashlib.sha256(b"missiva-master-key/id\0" + material).hexdigest()[:16],
        )


SECRET = ProcessSecret("master key", ENV_VAR, CONN_ID, DEMO_KEY, MasterKeyMissing)
#: Use a secret as the master key of this process (``None``: forget it)
install = SECRET.install


def resolve(ledger_url: str) -> MasterKey:
    """The master key for the ledger at ``ledger_url`` (order: the module's docstring)."""
    return MasterKey.of(SECRET.resolve(ledger_url))
