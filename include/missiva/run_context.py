"""Who is running a stage: the Airflow identifiers the ledger records."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunContext:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    interval_start: datetime
    interval_end: datetime
    #: the run's params (e.g. an on-demand request), bound into the extract SQL by name
    params: Mapping[str, Any] = field(default_factory=dict)
