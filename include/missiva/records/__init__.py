"""Records: the ledger, its hash chain and migrations, the artifact stores, audit and run
reports."""
