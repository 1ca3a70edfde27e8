"""The run's report as its DAG run's note in the Airflow UI (an Airflow listener).

Airflow 3.3's Task SDK gives a task no call to set its own run's note (the execution
API takes a note only for a run a task triggers), and the REST API would need a user's
credentials inside the task. The scheduler may: this listener, registered by Missiva's
plugin, runs where the run's state changes (the scheduler; ``dag.test(use_executor=True)``
calls it too, a plain ``dag.test()`` does not), on the ORM run object in the session
that records the new state; it reads the ``report`` task's XCom (counts, no personal
data) and sets the note in that same commit. An operator's own note is kept.
"""

import logging
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

#: the tasks whose return value is the run's report (journey runs; on-demand requests)
REPORT_TASKS = ("report", "handle_request")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from missiva.records.run_report import NOTE_TITLE, run_note

    session = object_session(dag_run)
    if session is None or (dag_run.note and not dag_run.note.startswith(NOTE_TITLE)):
        return
    row = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id.in_(REPORT_TASKS),
            XComModel.key == "return_value",
            XComModel.map_index == -1,
        )
    ).first()
    report = XComModel.deserialize_value(row) if row is not None else None
    if isinstance(report, dict) and "statuses" in report:
        dag_run.note = run_note(report)
        log.info("run note of %s/%s: %s", dag_run.dag_id, dag_run.run_id, dag_run.note)
