"""Task bodies: build the run context from Airflow's, call the core stage.

Imported at DAG parse time, so the core (pandas, WeasyPrint, GX) is imported lazily.
"""

import logging
from typing import TYPE_CHECKING

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException

from missiva.journey import Journey
from missiva.run_context import RunContext
from missiva.settings import Settings

if TYPE_CHECKING:  # not at DAG parse time
    from missiva.records.store import ArtifactStore

log = logging.getLogger(__name__)


def _run_context() -> RunContext:
    context = get_current_context()
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    task_id = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}[{map_index}]"
    return RunContext(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=task_id,
        try_number=ti.try_number,
        # a run triggered without a logical date (an on-demand request) has no interval
        interval_start=context.get("data_interval_start") or context["dag_run"].run_after,
        interval_end=context.get("data_interval_end") or context["dag_run"].run_after,
        params=dict(context["params"]),
    )


def _settings_and_store() -> tuple[Settings, "ArtifactStore"]:
    """The settings, and the archive (the ``missiva_archive`` Connection or the default)."""
    from missiva.orchestration.connections import artifact_store

    settings = Settings.from_env()
    return settings, artifact_store(settings)


def extract(journey: Journey) -> int:
    from missiva.flow import extract_stage
    from missiva.orchestration.connections import source_url
    from missiva.sources.extract import ExtractError

    settings, store = _settings_and_store()
    run = _run_context()
    if journey.scope == "day" and run.interval_start == run.interval_end:
        raise AirflowFailException(
            f"{run.dag_id} covers a data interval and this run has none (it was triggered "
            "without a logical date): trigger it with a logical date; the run then covers "
            "the schedule's interval that ends there"
        )
    try:
        return extract_stage(journey, run, settings, source_url(settings), store=store)
    except ExtractError as exc:  # a broken source does not heal by retrying
        raise AirflowFailException(str(exc)) from exc


def validate(journey: Journey) -> list[int]:
    from missiva.flow import validate_stage
    from missiva.sources.validation import BatchValidationError

    settings, store = _settings_and_store()
    chunk_size = int(get_current_context()["params"]["chunk_size"])
    try:
        return validate_stage(journey, _run_context(), settings, chunk_size, store=store)
    except BatchValidationError as exc:
        raise AirflowFailException(str(exc)) from exc


def compose(journey: Journey, chunk: int) -> int:
    from missiva.flow import compose_stage

    settings, store = _settings_and_store()
    compose_stage(journey, _run_context(), settings, chunk, store=store)
    return chunk


def deliver(journey: Journey, chunk: int) -> dict:
    from missiva.delivery.outbox import deliver_stage
    from missiva.orchestration.connections import channel_providers

    settings, store = _settings_and_store()
    run = _run_context()
    return deliver_stage(journey, run, settings, chunk, providers=channel_providers(), store=store)


def deliver_deferred() -> dict:
    """Deliver every journey's deferred communications whose time has come."""
    from missiva.delivery.outbox import deliver_deferred as deliver_due
    from missiva.journeys import JOURNEYS
    from missiva.orchestration.connections import channel_providers

    settings, store = _settings_and_store()
    run = _run_context()
    return deliver_due(JOURNEYS, run, settings, providers=channel_providers(), store=store)


def report() -> dict:
    from missiva.records.ledger import Ledger
    from missiva.records.run_report import summarize

    run = _run_context()
    summary = summarize(Ledger(Settings.from_env().ledger_url), run.dag_id, run.run_id)
    for line in summary.lines():  # the run's outcome, in the report task's log in the UI
        log.info("%s", line)
    return summary.as_dict()


def verify_archive() -> dict:
    """Walk the ledger's hash chain and re-hash every archived object; fail on any problem."""
    from missiva.records.audit import verify
    from missiva.records.ledger import Ledger

    settings, store = _settings_and_store()
    with Ledger(settings.ledger_url) as ledger:
        problems = verify(ledger, store)
        checked = ledger.count()
    for problem in problems:
        print(problem)
    if problems:
        raise AirflowFailException(
            f"audit verify found {len(problems)} problem(s); first: {problems[0]}"
        )
    return {"communications": checked, "problems": 0}


def print_batches(journey: Journey) -> list[dict]:
    from missiva.flow import print_stage

    settings, store = _settings_and_store()
    return print_stage(journey, _run_context(), settings, store=store)


def whole_run(journey: Journey) -> dict:
    """Every stage of a run in one task, one process: for latency-first journeys (an
    on-demand request: one record, no hand-over between tasks). Each stage is idempotent,
    so a retry of the task resumes where it stopped."""
    extract(journey)
    for chunk in validate(journey):
        compose(journey, chunk)
        deliver(journey, chunk)
    print_batches(journey)
    return report()
