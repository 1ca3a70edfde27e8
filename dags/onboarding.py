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
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from missiva.journeys import ONBOARDING
from missiva.orchestration import stages
from missiva.orchestration.assets import archive_asset


@dag(
    dag_id="onboarding",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "customer-communications",
        "retries": 2,
        "retry_delay": pendulum.duration(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={"chunk_size": Param(500, type="integer", minimum=1, maximum=5000)},
    tags=["journey", "onboarding", "transactional"],
    doc_md=__doc__,
)
def onboarding() -> None:
    @task
    def extract() -> int:
        return stages.extract(ONBOARDING)

    @task
    def validate(extracted: int) -> list[int]:
        return stages.validate(ONBOARDING)

    @task(max_active_tis_per_dagrun=2, outlets=[archive_asset(ONBOARDING)])
    def compose(chunk: int) -> int:
        return stages.compose(ONBOARDING, chunk)

    @task(max_active_tis_per_dagrun=2)
    def deliver(chunk: int) -> dict:
        return stages.deliver(ONBOARDING, chunk)

    @task
    def print_batches(delivered: list[dict]) -> list[dict]:
        return stages.print_batches(ONBOARDING)

    @task
    def report(batches: list[dict]) -> dict:
        return stages.report()

    chunks = validate(extract())
    report(print_batches(deliver.expand(chunk=compose.expand(chunk=chunks))))


onboarding()
