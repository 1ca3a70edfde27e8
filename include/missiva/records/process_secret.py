"""A secret a process needs to use a ledger (the chain key, the master key), found the
same way for each; first found wins:

1. the value the orchestration layer installed for this process (:meth:`install`: DAG
   tasks read it from an Airflow Connection or secret);
2. an environment variable (the CLI, scripts);
3. a public demo value, only for an SQLite ledger (the embedded demo). A ledger on a
   database server is a production ledger: without the secret it is refused.
"""

import os
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from missiva.records.errors import LedgerError


@dataclass
class ProcessSecret:
    """One such secret: its name, variable, Connection, demo value and missing error."""

    name: str
    env_var: str
    conn_id: str
    demo: str
    missing: type[LedgerError]
    installed: str | None = field(default=None, repr=False)

    def install(self, secret: str | None) -> None:
        """Use ``secret`` in this process (``None``: forget it)."""
        if secret is not None and not secret.strip():
            raise self.missing(f"the {self.name} is empty")
        self.installed = secret

    def resolve(self, ledger_url: str) -> str:
        """The secret for the ledger at ``ledger_url`` (order: the module's docstring)."""
        secret = self.installed or os.environ.get(self.env_var)
        if secret:
            return secret
        if make_url(ledger_url).get_backend_name() == "sqlite":
            return self.demo
        raise self.missing(
            f"no {self.name} for {make_url(ledger_url).render_as_string(hide_password=True)}: "
            f"set {self.env_var} (CLI) or the password of the {self.conn_id} Airflow "
            "Connection (DAGs); the demo key is only for the embedded SQLite ledger"
        )
