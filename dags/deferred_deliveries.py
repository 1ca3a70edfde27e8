"""
### Deferred deliveries: what the contact policy held back, sent when allowed

Every hour, every journey's communications recorded `deferred` by the contact policy
(quiet hours in the customer's time zone) whose `not_before` has passed are delivered
through the same outbox as the journey run that composed them: the policy decides
again, then `sending` → `sent`/`failed` (with the fallback channel), never twice.
The journey runs do not wait for them; their reports count them as deferred.
"""

import pendulum
from airflow.sdk import dag, task

from missiva.orchestration import stages


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
    tags=["delivery"],
    doc_md=__doc__,
)
def deferred_deliveries() -> None:
    @task
    def deliver_due() -> dict:
        return stages.deliver_deferred()

    deliver_due()


deferred_deliveries()
