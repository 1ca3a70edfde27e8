"""Who is running a stage: the Airflow identifiers the ledger records."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunContext:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    interval_start: datetime
    interval_end: datetime
