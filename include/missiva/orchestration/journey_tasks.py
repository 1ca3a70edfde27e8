"""The tasks of a journey DAG, the same for every journey:

extract → validate → compose (mapped per chunk) → deliver (mapped per chunk)
→ print_batches → report. Call :func:`journey_tasks` inside a ``@dag`` function, or
:func:`request_task` for a latency-first journey (the same stages in one task).
"""

import pendulum
from airflow.sdk import Param, task

from missiva.journey import Journey
from missiva.orchestration import stages
from missiva.orchestration.assets import archive_asset

#: retries with exponential backoff for every journey task
DEFAULT_ARGS = {
    "owner": "customer-communications",
    "retries": 2,
    "retry_delay": pendulum.duration(seconds=30),
    "retry_exponential_backoff": True,
}


def chunk_size_param() -> Param:
    """How many records a mapped compose/deliver task handles."""
    return Param(500, type="integer", minimum=1, maximum=5000)


def whole_value(pattern: str) -> str:
    """A Param ``pattern`` the whole value must match: ``^...$`` would accept a trailing
    newline (``$`` matches before one); ``(?![\\s\\S])`` is the end of the value in both
    Python's and the browser's regular expressions."""
    return f"^(?:{pattern})(?![\\s\\S])"


def journey_tasks(journey: Journey, *, chunk_parallelism: int = 2) -> None:
    """Add the journey's tasks to the DAG being defined."""

    @task
    def extract() -> int:
        return stages.extract(journey)

    @task
    def validate(extracted: int) -> list[int]:
        return stages.validate(journey)

    @task(max_active_tis_per_dagrun=chunk_parallelism, outlets=[archive_asset(journey)])
    def compose(chunk: int) -> int:
        return stages.compose(journey, chunk)

    @task(max_active_tis_per_dagrun=chunk_parallelism)
    def deliver(chunk: int) -> dict:
        return stages.deliver(journey, chunk)

    @task
    def print_batches(delivered: list[dict]) -> list[dict]:
        return stages.print_batches(journey)

    @task
    def report(batches: list[dict]) -> dict:
        return stages.report()

    chunks = validate(extract())
    report(print_batches(deliver.expand(chunk=compose.expand(chunk=chunks))))


def request_task(journey: Journey) -> None:
    """Add one task running every stage of the run (an on-demand request: one record,
    delivered seconds after the trigger, without six task start-ups)."""

    @task(outlets=[archive_asset(journey)])
    def handle_request() -> dict:
        return stages.whole_run(journey)

    handle_request()
