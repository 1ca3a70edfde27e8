"""
### Billing statements: the monthly statement of every account

On the 1st of each month, every pay-per-km motor account billed for the previous month
(the data interval) gets its statement: the line items, the month's total and distance,
and bar charts of the last six months (inline SVG, in the PDF letter and on the web page).
Paperless accounts get an e-mail with the statement PDF attached; the others the printed
statement, householded: several statements to the same addressee at the same address
travel in one envelope (see the print batch manifest).

1. **extract** — `include/sql/billing_statements_extract.sql` (one row per statement, with
   totals), then `billing_statement_lines.sql` and `billing_statement_history.sql`
   attached to each statement as `lines` and `history`; on the `missiva_core` connection.
2. **validate** — `include/expectations/billing_statements.json`: batch failures stop the
   run before anything is sent; failing statements are quarantined.
3. **chunk.compose** → **chunk.deliver** (mapped per chunk) — route, render, archive; SMTP
   (`smtp_default`) or the print folder; each statement (account and month) once.
4. **print_batches** — the month's paper statements merged into print-ready PDFs with a
   manifest (householding, sorted by postal code).
5. **report** — every statement is accounted for: sent, suppressed or quarantined.

Demo: `airflow dags test billing_statements 2026-11-01` bills October 2026.
"""

import pendulum
from airflow.sdk import dag

from missiva.journeys.billing_statements import BILLING_STATEMENTS
from missiva.orchestration import schedules
from missiva.orchestration.journey_tasks import (
    DEFAULT_ARGS,
    chunk_size_param,
    journey_tasks,
    release_params,
)


@dag(
    dag_id="billing_statements",
    description=(
        "Monthly statement of each billing account for the month billed, "
        "by e-mail, paper or the portal."
    ),
    schedule=schedules.monthly(),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"chunk_size": chunk_size_param(), **release_params()},
    tags=["journey", "billing", "transactional"],
    doc_md=__doc__,
)
def billing_statements() -> None:
    journey_tasks(BILLING_STATEMENTS)


billing_statements()
