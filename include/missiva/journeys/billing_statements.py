"""Billing statements: each account's monthly statement, line items and a chart."""

from missiva.journey import Journey
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

BILLING_STATEMENTS = Journey(
    name="billing_statements",
    communication="billing_statement",
    purpose="transactional",
    # paperless accounts prefer e-mail, the others paper (the extract's preferred_channel);
    # the portal (no consent needed: the customer's own inbox) before paper, so a paperless
    # account never gets paper
    channels=("email", "portal", "paper"),
    extract_sql=SQL_DIR / "billing_statements_extract.sql",
    suite=EXPECTATIONS_DIR / "billing_statements.json",
    details={
        "lines": SQL_DIR / "billing_statement_lines.sql",
        "history": SQL_DIR / "billing_statement_history.sql",
    },
    detail_key="account_id",
)
