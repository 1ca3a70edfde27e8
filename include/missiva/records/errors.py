"""What the ledger refuses."""


class LedgerError(Exception):
    """A ledger write that would break the outbox rules."""


class LedgerSchemaError(LedgerError):
    """The database's schema revision is unknown to this version of Missiva."""
