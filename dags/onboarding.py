"""
### Onboarding: the welcome pack

Every day, customers who joined during the data interval receive a welcome e-mail
(HTML + text, with the welcome letter attached as PDF) or, when e-mail is not
possible or not preferred, the printed welcome letter.

1. **extract** — `include/sql/onboarding_extract.sql` on the `missiva_core` connection.
2. **validate** — Great Expectations suite `include/expectations/onboarding.json`:
   batch failures stop the run before anything is sent; failing records are quarantined.
3. **compose** (mapped per chunk) — route each customer, render, archive the exact artifact
   (updates the Asset `onboarding_archive`, which schedules `audit_verify`).
4. **deliver** (mapped per chunk) — SMTP (`smtp_default`) or the print folder; never twice.
5. **print_batches** — the day's letters merged into print-ready PDFs with a manifest
   (householding, sorted by postal code) in the print folder's `batches/`.
6. **report** — every extracted customer is accounted for: sent, suppressed or quarantined.

Audit: `missiva audit trace --customer ID --json`.
"""

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from missiva.journeys import ONBOARDING
from missiva.orchestration.journey_tasks import DEFAULT_ARGS, chunk_size_param, journey_tasks


@dag(
    dag_id="onboarding",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"chunk_size": chunk_size_param()},
    tags=["journey", "onboarding", "transactional"],
    doc_md=__doc__,
)
def onboarding() -> None:
    journey_tasks(ONBOARDING)


onboarding()
