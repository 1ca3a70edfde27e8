"""Each task process's own CPU time and peak memory, for ``missiva bench journey``.

When ``MISSIVA_TASK_USAGE_DIR`` is set, a task process writes one JSON file there just
before it stops: its DAG, run, task id, map index and try, its CPU seconds (user +
system, of itself and of its finished children) and its peak RSS, from ``getrusage``.
Only the task process counts: not the supervisor that forked it (the executor's worker)
nor the Airflow daemons. :class:`TaskUsagePlugin` registers the listener; the benchmark
puts a plugins folder that imports it in front of the run.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any, ClassVar

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

USAGE_DIR_ENV = "MISSIVA_TASK_USAGE_DIR"


def own_usage() -> dict[str, float]:
    """CPU seconds and peak RSS (MB, Linux ``ru_maxrss`` is in KB) of this process, its
    finished children's CPU included."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    return {"cpu_s": round(cpu, 4), "peak_rss_mb": round(me.ru_maxrss / 1024, 1)}


class TaskUsageListener:
    """Remembers which task this process runs; writes its usage when it stops."""

    def __init__(self) -> None:
        self.task: dict[str, Any] | None = None

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        ti = task_instance
        self.task = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "try_number": ti.try_number,
        }

    @hookimpl
    def before_stopping(self, component: Any) -> None:
        folder = os.environ.get(USAGE_DIR_ENV)
        if self.task is None or not folder:
            return
        task = self.task
        name = f"{task['task_id']}.{task['map_index']}.{task['try_number']}.{os.getpid()}.json"
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps({**task, **own_usage()}))
        partial.rename(path)  # the reader never sees half a file


class TaskUsagePlugin(AirflowPlugin):
    name = "missiva_task_usage"
    listeners: ClassVar[list[Any]] = [TaskUsageListener()]
