"""What the ledger refuses."""


class LedgerError(Exception):
    """A ledger write that would break the outbox rules."""


class LedgerSchemaError(LedgerError):
    """The database's schema revision is unknown to this version of Missiva."""


class LeaseLost(LedgerError):
    """A sender no longer holds the send it is making (a recovery took it over)."""
