"""
### Privacy purge: remove what outlived its retention

Daily. Deletes the archived objects (input record, artifact) of every communication past
its retention period in `include/retention.toml`, where the archive allows it, and
records each removal as a chained event. Objects a write-once (Object Lock) archive
keeps become unreadable instead: a customer's key is destroyed once all of their
communications have expired. Customers under a legal hold are kept whole. Same as
`missiva privacy purge`.
"""

from airflow.sdk import dag, task

from missiva.orchestration import stages
from missiva.orchestration.schedules import COMPLIANCE_DAG


@dag(
    dag_id="privacy_purge",
    description=(
        "Daily: deletes archived objects past their retention where the store allows, "
        "destroys the keys of customers whose communications have all expired."
    ),
    schedule="@daily",
    doc_md=__doc__,
    **COMPLIANCE_DAG,
)
def privacy_purge() -> None:
    @task
    def purge() -> dict:
        return stages.purge_expired()

    purge()


privacy_purge()
