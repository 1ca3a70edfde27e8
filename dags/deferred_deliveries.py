"""
### Deferred deliveries: what the contact policy held back, sent when allowed

Every hour, every journey's communications recorded `deferred` by the contact policy
(quiet hours in the customer's time zone) whose `not_before` has passed are delivered
through the same outbox as the journey run that composed them: the policy decides
again, then `sending` → `sent`/`failed` (with the fallback channel), never twice.
The journey runs do not wait for them; their reports count them as deferred.

1. **find_due** — the communications due now, cut into chunks of `chunk_size` ids
   (grown when there would be more than `[core] max_map_length` chunks) in staging.
2. **deliver_due** (mapped per chunk, `[missiva] deliver_parallelism` at once) — each
   chunk's communications still deferred, through their journey run's outbox.
3. **print_late_batches** — the letters among them into late print batches of their runs.
"""

import pendulum
from airflow.sdk import dag, task

from missiva.orchestration import stages
from missiva.orchestration.journey_tasks import chunk_size_param, stage_parallelism


@dag(
    dag_id="deferred_deliveries",
    description="Sends what the contact policy held for quiet hours once its time has come.",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "customer-communications",
        "retries": 2,
        "retry_delay": pendulum.duration(minutes=1),
        "retry_exponential_backoff": True,
    },
    params={"chunk_size": chunk_size_param()},
    tags=["delivery"],
    doc_md=__doc__,
)
def deferred_deliveries() -> None:
    @task
    def find_due() -> list[int]:
        return stages.stage_deferred()

    @task(max_active_tis_per_dagrun=stage_parallelism("deliver"))
    def deliver_due(chunk: int) -> dict:
        return stages.deliver_deferred(chunk)

    # an hour with nothing due maps no chunk (skipped): nothing to batch, but not a failure
    @task(trigger_rule="none_failed")
    def print_late_batches(chunks: list[int]) -> int:
        return stages.print_late_batches(chunks)

    chunks = find_due()
    deliver_due.expand(chunk=chunks) >> print_late_batches(chunks)


deferred_deliveries()
