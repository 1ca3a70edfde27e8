"""
### Audit verify: is the record of what was sent still intact?

Runs after any journey archives new artifacts (Asset-scheduled) and fails, with every
problem in its log, when the ledger's hash chain is broken, a communications row no
longer matches the digest recorded in its events, or an archived object (artifact or
input record) is missing or altered. Same check as `missiva audit verify`.
"""

from airflow.sdk import AssetAny, dag, task

from missiva.journeys import JOURNEYS
from missiva.orchestration import stages
from missiva.orchestration.assets import archive_asset
from missiva.orchestration.schedules import COMPLIANCE_DAG


@dag(
    dag_id="audit_verify",
    description=(
        "Walks the ledger's hash chain and re-hashes every archived artifact "
        "after each journey archives; fails on any tampering."
    ),
    schedule=AssetAny(*(archive_asset(journey) for journey in JOURNEYS)),
    doc_md=__doc__,
    **COMPLIANCE_DAG,
)
def audit_verify() -> None:
    @task
    def verify() -> dict:
        return stages.verify_archive()

    verify()


audit_verify()
