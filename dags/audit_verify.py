"""
### Audit verify: is the record of what was sent still intact?

Runs after any journey archives new artifacts (Asset-scheduled) and fails, with every
problem in its log, when the ledger's hash chain is broken, a communications row no
longer matches the digest recorded in its events, or an archived object (artifact or
input record) is missing or altered. Same check as `missiva audit verify`.
"""

import pendulum
from airflow.sdk import AssetAny, dag, task

from missiva.journeys import JOURNEYS
from missiva.orchestration import stages
from missiva.orchestration.assets import archive_asset


@dag(
    dag_id="audit_verify",
    description=(
        "Walks the ledger's hash chain and re-hashes every archived artifact "
        "after each journey archives; fails on any tampering."
    ),
    schedule=AssetAny(*(archive_asset(journey) for journey in JOURNEYS)),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "compliance", "retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    tags=["audit"],
    doc_md=__doc__,
)
def audit_verify() -> None:
    @task
    def verify() -> dict:
        return stages.verify_archive()

    verify()


audit_verify()
