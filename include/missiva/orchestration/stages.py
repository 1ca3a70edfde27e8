"""Task bodies: build the run context from Airflow's, call the core stage.

Imported at DAG parse time, so the core (pandas, WeasyPrint, GX) is imported lazily.
"""

import logging
from typing import TYPE_CHECKING

from airflow.sdk import get_current_context
from airflow.sdk.configuration import conf
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
    """The settings (the ledger of the ``missiva_ledger`` Connection, if any, under the
    key of ``missiva_ledger_key``, customers' keys under ``missiva_master_key``), and
    the archive (the ``missiva_archive`` Connection or the default)."""
    from missiva.orchestration.connections import (
        artifact_store,
        install_ledger_key,
        install_master_key,
        task_settings,
    )

    install_ledger_key()
    install_master_key()
    settings = task_settings()
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
        return validate_stage(
            journey, _run_context(), settings, chunk_size, max_chunks=_max_chunks(), store=store
        )
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


def release_hold(journey: Journey, chunks: list[int]) -> list[str]:
    """Why the run's release policy holds it (empty: it does not)."""
    from missiva.release import hold_stage

    settings, store = _settings_and_store()
    return hold_stage(journey, _run_context(), settings, chunks, store=store)


def release_summary(held_because: list[str], base_url: str) -> str:
    """What the releaser of the held run is shown (Markdown)."""
    from missiva.records.ledger import Ledger
    from missiva.release import summarize

    settings, _ = _settings_and_store()
    run = _run_context()
    with Ledger(settings.ledger_url) as ledger:
        return summarize(ledger, run.dag_id, run.run_id, held_because).markdown(base_url)


def release_decision(approved: bool, by: str, why: str) -> int:
    """Record the releaser's decision on the held run; how many communications it moved."""
    from missiva.records.ledger import Ledger
    from missiva.release import cancel, release

    settings, _ = _settings_and_store()
    run = _run_context()
    with Ledger(settings.ledger_url) as ledger:
        if approved:
            return release(ledger, run.dag_id, run.run_id, by)
        return cancel(ledger, run.dag_id, run.run_id, by, why)


def _max_chunks() -> int:
    """How many mapped tasks Airflow allows one task (``[core] max_map_length``)."""
    return conf.getint("core", "max_map_length", fallback=1024)


def stage_deferred() -> list[int]:
    """Cut every journey's deferred communications due now into chunks; their numbers."""
    from missiva.delivery.deferred import stage_due
    from missiva.journeys import JOURNEYS

    settings, store = _settings_and_store()
    chunk_size = int(get_current_context()["params"]["chunk_size"])
    run = _run_context()
    return stage_due(JOURNEYS, run, settings, chunk_size, max_chunks=_max_chunks(), store=store)


def deliver_deferred(chunk: int) -> dict:
    """Deliver one chunk of the deferred communications found due."""
    from missiva.delivery.deferred import deliver_due_chunk
    from missiva.journeys import JOURNEYS
    from missiva.orchestration.connections import channel_providers

    settings, store = _settings_and_store()
    run = _run_context()
    return deliver_due_chunk(
        JOURNEYS, run, settings, chunk, providers=channel_providers(), store=store
    )


def print_late_batches(chunks: list[int]) -> int:
    """Put the letters the chunks sent into late print batches of their journey runs,
    then delete the run's staging (the chunks of communication ids)."""
    from missiva.delivery.deferred import print_late_batches as batch_late
    from missiva.journeys import JOURNEYS

    settings, store = _settings_and_store()
    run = _run_context()
    letters = batch_late(JOURNEYS, run, settings, chunks, store=store)
    _delete_staging(run, settings, store)
    return letters


def _delete_staging(run: RunContext, settings: Settings, store: "ArtifactStore") -> None:
    from missiva.flow import staging

    staged = staging(run, settings, store)
    removed = staged.space.clear()
    log.info("staging deleted: %d object(s) at %s", removed, staged.space.location(""))


def report() -> dict:
    """Print the run's summary from the ledger, anchor the chain head, then delete the
    run's staging (the customer records it was extracted from: personal data must not
    outlive the run). Communications awaiting review fail the task (no retry): the run
    is not a success until a person settles them and clears this task."""
    from missiva.records.anchors import RUN, write_anchor
    from missiva.records.ledger import Ledger
    from missiva.records.run_report import summarize

    settings, store = _settings_and_store()
    run = _run_context()
    with Ledger(settings.ledger_url) as ledger:
        summary = summarize(ledger, run.dag_id, run.run_id)
        write_anchor(ledger, store, RUN, f"{run.dag_id}/{run.run_id}")
    for line in summary.lines():  # the run's outcome, in the report task's log in the UI
        log.info("%s", line)
    _delete_staging(run, settings, store)
    if summary.awaiting_review:
        message = (
            f"{len(summary.awaiting_review)} communication(s) await review (outcome unknown, "
            f"not resent): `missiva review list --run {run.run_id}`; resolve each, then clear "
            "this task"
        )
        log.warning("%s", message)
        raise AirflowFailException(message)
    return summary.as_dict()


def verify_archive() -> dict:
    """Check the ledger from the last verified anchor on (incremental) against every
    anchor and re-hash the objects archived since; anchor the head when intact, fail on
    any problem."""
    from missiva.records.audit import verify
    from missiva.records.ledger import Ledger

    settings, store = _settings_and_store()
    run = _run_context()
    with Ledger(settings.ledger_url) as ledger:
        result = verify(
            ledger, store, full=False, by=f"{run.dag_id}/{run.run_id}", settings=settings
        )
    for problem in result.problems:
        print(problem)
    if result.problems:
        raise AirflowFailException(
            f"audit verify ({result.scope}) found {len(result.problems)} problem(s); "
            f"first: {result.problems[0]}"
        )
    head = result.anchored
    return {
        "scope": result.scope,
        "communications": result.communications,
        "print_manifests": result.files.manifests,
        "portal_indexes": result.files.indexes,
        "anchors": result.anchors,
        "anchored_event": head.event_id if head else None,
        "problems": 0,
    }


def print_batches(journey: Journey) -> list[dict]:
    from missiva.print_stage import print_stage

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


def purge_expired() -> dict:
    """Remove what outlived its retention (``missiva privacy purge``) as of the run's
    data interval end; what was deleted, kept locked, and whose key was destroyed."""
    from missiva.privacy.retention import purge
    from missiva.privacy.sealing import sealed
    from missiva.records.ledger import Ledger

    settings, store = _settings_and_store()
    with Ledger(settings.ledger_url) as ledger:
        result = purge(
            ledger,
            sealed(store, ledger),
            settings.retention,
            _run_context().interval_end,
            dry_run=False,
        )
    print("\n".join(result.lines()))
    return {
        "expired": result.expired,
        "deleted": len(result.deleted),
        "locked": len(result.locked),
        "keys_destroyed": len(result.erased),
        "held": len(result.held),
    }
