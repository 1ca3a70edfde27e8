"""
### Onboarding: the welcome pack, then one reminder

Every day, customers who joined during the data interval receive a welcome e-mail
(HTML + text, with the welcome letter attached as PDF) or, when e-mail is not
possible or not preferred, the printed welcome letter. Customers who joined
`reminder_after_days` (param, default 7) before the interval and have not completed
onboarding by its end (`onboarding_progress.completed_at`) receive the
`onboarding_reminder`, once (subject key `reminder`); nothing more once it is complete.

1. **extract** — `include/sql/onboarding_extract.sql` on the `missiva_core` connection.
2. **validate** — Great Expectations suite `include/expectations/onboarding.json`:
   batch failures stop the run before anything is sent; failing records are quarantined.
3. **chunk.compose** (mapped per chunk) — route each customer, render, archive the exact artifact
   (updates the Asset `onboarding_archive`, which schedules `audit_verify`).
4. **chunk.deliver** — the chunk as soon as it is composed: SMTP (`smtp_default`) or the
   print folder; never twice.
5. **print_batches** — the day's letters merged into print-ready PDFs with a manifest
   (householding, sorted by postal code) in the print folder's `batches/`.
6. **report** — every extracted customer is accounted for: sent, suppressed or quarantined.

Demo: `airflow dags test onboarding 2026-11-03` (welcomes), `... 2026-11-09` (reminders).
Audit: `missiva audit trace --customer ID --json`.
"""

import pendulum
from airflow.sdk import Param, dag

from missiva.journeys.onboarding import ONBOARDING, REMINDER_AFTER_DAYS
from missiva.orchestration import schedules
from missiva.orchestration.journey_tasks import (
    DEFAULT_ARGS,
    chunk_size_param,
    journey_tasks,
    release_params,
)


@dag(
    dag_id="onboarding",
    description=(
        "Welcome pack for the customers who joined in the data interval, then "
        "one reminder while onboarding is not complete."
    ),
    schedule=schedules.daily(),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "chunk_size": chunk_size_param(),
        **release_params(),
        "reminder_after_days": Param(
            REMINDER_AFTER_DAYS,
            type="integer",
            minimum=1,
            maximum=90,
            description="days after joining at which an incomplete onboarding is reminded",
        ),
    },
    tags=["journey", "onboarding", "transactional"],
    doc_md=__doc__,
)
def onboarding() -> None:
    journey_tasks(ONBOARDING)


onboarding()
