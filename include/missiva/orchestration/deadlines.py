"""Airflow 3 deadline alerts for journeys whose letters are due by a set time.

:func:`letters_deadline` declares the alert on a DAG; when the run is not finished by
then, the scheduler queues :func:`letters_overdue` and the triggerer awaits it.

``MISSIVA_DEADLINE_ALERTS=off`` leaves the alert out when the DAG is parsed: Airflow
3.3.2's ``dag.test()`` (and so ``airflow dags test``) fails a DAG with a deadline at the
end of a successful run (it looks the alert definitions up as if they were stored ids);
the scheduler reads the ids the DAG processor stored.
"""

import asyncio
import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from missiva.journey import Journey

log = logging.getLogger(__name__)


def letters_deadline(
    journey: Journey, *, period: timedelta, due_after: timedelta
) -> DeadlineAlert | None:
    """An alert when a run of a ``period``-scheduled journey is not done ``due_after``
    its data interval's end. The reference is the run's logical date, which for a
    scheduled data-interval run is the interval's start (a manual run's logical date is
    its interval's end, so its deadline comes one ``period`` later)."""
    if os.environ.get("MISSIVA_DEADLINE_ALERTS") == "off":
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        # a plain timedelta: Airflow cannot serialize pendulum's Duration here
        interval=timedelta(seconds=(period + due_after).total_seconds()),
        callback=AsyncCallback(letters_overdue, kwargs={"journey": journey.name}),
        name=f"{journey.name} letters out",
    )


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def letters_overdue(journey: str, context: dict[str, Any]) -> dict:
    """Deadline callback (runs in the triggerer): record the miss and what is not out.

    ``context`` is what the scheduler passes: ``dag_run`` (the run as the REST API shows
    it) and ``deadline`` (its ``deadline_time``)."""
    from missiva.delivery.deadline_alerts import record_missed_deadline
    from missiva.journeys import journey_named
    from missiva.run_context import RunContext

    dag_run = context["dag_run"]
    run = RunContext(
        dag_id=dag_run["dag_id"],
        run_id=dag_run["dag_run_id"],
        task_id="deadline_alert",
        try_number=1,
        interval_start=_moment(dag_run["data_interval_start"]),
        interval_end=_moment(dag_run["data_interval_end"]),
    )
    deadline = context["deadline"]["deadline_time"]

    def record() -> dict:
        from missiva.orchestration.connections import artifact_store, task_settings

        settings = task_settings()  # the ledger of the missiva_ledger Connection, if any
        try:  # the S3 archive keeps the alerts where every machine sees them
            store = artifact_store(settings)
        except Exception:  # the alert matters more than where it lands
            log.exception("archive unavailable; the deadline alert goes to the local file")
            store = None
        return record_missed_deadline(journey_named(journey), run, deadline, settings, store)

    return await asyncio.to_thread(record)
