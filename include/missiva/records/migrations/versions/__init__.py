"""Revisions of the ledger schema, oldest first (file names start with the revision id)."""
