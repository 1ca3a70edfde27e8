"""The onboarding journey at scale through the real scheduler (``missiva bench journey``).

:func:`bench_journey` starts :func:`~missiva.devtools.cluster.running_cluster` in a fresh
folder (Postgres metadata DB, ledger and core systems, SeaweedFS archive, SMTP and SMS
sinks, api-server, scheduler, dag-processor, triggerer) with ``N`` seeded customers and
the LocalExecutor (the scheduler runs the tasks; ``parallelism`` = the cores) or the
CeleryExecutor with two workers, triggers one onboarding run for 2026-11-02 with the
journey's normal params, waits for it and returns its figures:

- ``cpu_s_per_customer``: the CPU seconds of every task process of the run (each reports
  its own ``getrusage`` when it stops, :mod:`missiva.orchestration.task_usage`) over
  ``customers``. Not counted: the supervisor process that forks each task, and the
  Airflow daemons (scheduler, api-server, dag-processor, triggerer, Celery workers);
- ``compose_cpu_s_per_customer``: rendering alone, timed on a sample of the run's own
  communications in one process (:mod:`missiva.devtools.bench_render_sample`), times the
  communications the run rendered, over ``customers``; ``overhead_ratio`` the first over
  the second;
- ``peak_task_rss_mb``: the largest peak RSS of a task process;
- ``stage_seconds``: per task id (mapped instances together), first start to last end;
  ``stage_cpu_s`` the CPU of its task processes;
- ``accounted``: the ledger accounts for every extracted record (the run report,
  :func:`missiva.records.run_report.summarize`, in ``run_report``).

``cores`` pins the whole run (every process it starts) to that many cores.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from missiva.devtools.cluster import Cluster, running_cluster

DAG_ID = "onboarding"
LOGICAL_DATE = "2026-11-03T00:00:00Z"  # daily interval [2026-11-02, 2026-11-03)
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
CELERY_WORKERS = 2
USAGE_GRACE = 60.0  # seconds for the last task processes to write their usage
#: seconds a task's supervisor waits for the execution API (Airflow's default, 5, makes
#: tasks fail and retry when the machine is loaded; the benchmark measures, it does not
#: stress the api-server)
EXECUTION_API_TIMEOUT = "60"
#: the DAG files do not change during a benchmark: parsed once, not every 30 s
PARSE_INTERVAL = "3600"
PAGE = 100
#: the plugins-folder module of a benchmark run (this process does not import Airflow)
PLUGIN_SOURCE = "from missiva.orchestration.task_usage import TaskUsagePlugin  # noqa: F401\n"


@contextmanager
def pinned(cores: int | None) -> Iterator[int]:
    """This process (and what it starts) on its first ``cores`` allowed cores; yields
    the number of cores it runs on."""
    allowed = os.sched_getaffinity(0)
    if cores:
        if not 1 <= cores <= len(allowed):
            raise ValueError(f"--cores {cores}: this process may use {len(allowed)} cores")
        os.sched_setaffinity(0, sorted(allowed)[:cores])
    try:
        yield len(os.sched_getaffinity(0))
    finally:
        os.sched_setaffinity(0, allowed)


def bench_journey(
    customers: int,
    *,
    executor: str = "local",
    cores: int | None = None,
    root: Path | None = None,
    timeout: float = 3600.0,
    sample: int = 100,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the onboarding journey for ``customers`` seeded customers; its figures."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r}: one of {', '.join(EXECUTORS)}")
    with pinned(cores) as used, tempfile.TemporaryDirectory(prefix="missiva-bench-") as tmp:
        home = Path(root or tmp).resolve()
        usage_dir, plugins = home / "task-usage", home / "plugins"
        _write_plugin(plugins)
        started = time.monotonic()
        with running_cluster(
            home,
            workers=CELERY_WORKERS if executor == "celery" else 0,
            customers=customers,
            executor=EXECUTORS[executor],
            parallelism=CELERY_WORKERS if executor == "celery" else used,
            extra_env={
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "MISSIVA_TASK_USAGE_DIR": str(usage_dir),
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": EXECUTION_API_TIMEOUT,
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": PARSE_INTERVAL,
            },
            log=log,
        ) as cluster:
            startup = time.monotonic() - started
            run, wall = _trigger_and_wait(cluster, timeout, log)
            run_id = run["dag_run_id"]
            tis = _task_instances(cluster, run_id)
            usage = _task_usage(usage_dir, run_id, len(tis), log)
            rendering = _render_sample(cluster, run_id, sample)
            accounting = _accounting(cluster, run_id)
    figures = _figures(customers, usage, rendering)
    return {
        "customers": customers,
        "executor": executor,
        "cores": used,
        "state": run["state"],
        "wall_s": round(wall, 1),
        **figures,
        "stage_seconds": _stage_seconds(tis),
        "stage_cpu_s": _stage_cpu(usage),
        "task_instances": len(tis),
        # tries beyond the first (a task failed and was retried, e.g. an API timeout)
        "retries": sum(max(0, (ti.get("try_number") or 1) - 1) for ti in tis),
        "task_instances_per_host": dict(Counter(ti.get("hostname") for ti in tis)),
        **accounting,
        "render_sample": rendering,
        "run_id": run_id,
        "startup_s": round(startup, 1),
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _write_plugin(plugins: Path) -> None:
    """A plugins folder with only the task-usage listener (not the auditor UI)."""
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "missiva_task_usage.py").write_text(PLUGIN_SOURCE)


def _trigger_and_wait(
    cluster: Cluster, timeout: float, log: Callable[[str], None]
) -> tuple[dict[str, Any], float]:
    """Unpause the journey, trigger one run and wait until it ends; (run, wall s)."""
    with cluster.api() as api:
        api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
        started = time.monotonic()
        response = api.post(f"/dags/{DAG_ID}/dagRuns", json={"logical_date": LOGICAL_DATE})
        response.raise_for_status()
        run = response.json()
        log(f"triggered {run['dag_run_id']}")
        deadline = started + timeout
        while run["state"] not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run['dag_run_id']} still {run['state']} after {timeout} s"
                )
            cluster.check()
            time.sleep(2)
            run = api.get(f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}").json()
        wall = time.monotonic() - started
    log(f"run {run['dag_run_id']} {run['state']} in {wall:.0f} s")
    return run, wall


def _task_instances(cluster: Cluster, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of the run that ran (mapped ones one by one; not the release
    gate's skipped path), through the REST API."""
    tis: list[dict[str, Any]] = []
    with cluster.api() as api:
        while True:
            page = api.get(
                f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                params={"limit": PAGE, "offset": len(tis)},
            )
            page.raise_for_status()
            batch = page.json()["task_instances"]
            tis += batch
            if len(batch) < PAGE:
                return [ti for ti in tis if ti["state"] != "skipped"]


def _task_usage(
    folder: Path, run_id: str, expected: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The usage files of the run's task processes, once there are ``expected`` (a task
    process writes its file after reporting its state) or :data:`USAGE_GRACE` passes."""
    deadline = time.monotonic() + USAGE_GRACE
    while True:
        found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        found = [u for u in found if u["dag_id"] == DAG_ID and u["run_id"] == run_id]
        if len(found) >= expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    if len(found) < expected:
        log(f"only {len(found)} of {expected} task processes reported their usage")
    return found


def _render_sample(cluster: Cluster, run_id: str, sample: int) -> dict[str, Any]:
    """Rendering alone, in one process with the cluster's archive (its own environment)."""
    command = [
        sys.executable,
        "-m",
        "missiva.devtools.bench_render_sample",
        cluster.ledger_url,
        DAG_ID,
        run_id,
        str(sample),
    ]
    done = subprocess.run(
        command, env=cluster.cli_env(), capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"rendering the sample failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _accounting(cluster: Cluster, run_id: str) -> dict[str, Any]:
    """Whether the ledger accounts for every extracted record, and the run report."""
    from missiva.records.run_report import AccountingError, summarize

    with cluster.open_ledger() as ledger:
        try:
            summary = summarize(ledger, DAG_ID, run_id)
        except AccountingError as exc:
            return {"accounted": False, "run_report": {"error": str(exc)}}
    report = summary.as_dict()
    accounted = summary.extracted > 0 and summary.accounted == summary.extracted
    return {"accounted": accounted, "extracted": summary.extracted, "run_report": report}


def _figures(
    customers: int, usage: list[dict[str, Any]], rendering: dict[str, Any]
) -> dict[str, Any]:
    """CPU per customer of the task processes and of rendering alone, their ratio, and
    the largest task process."""
    task_cpu = sum(u["cpu_s"] for u in usage) / customers
    compose = rendering["cpu_s_per_communication"] * rendering["rendered_in_run"] / customers
    return {
        "cpu_s_per_customer": round(task_cpu, 5),
        "compose_cpu_s_per_customer": round(compose, 5),
        "overhead_ratio": round(task_cpu / compose, 3) if compose else None,
        "peak_task_rss_mb": max((u["peak_rss_mb"] for u in usage), default=0.0),
        "task_processes": len(usage),
    }


def _span(tis: list[dict[str, Any]]) -> float:
    """Seconds from the first start to the last end of these task instances."""
    starts = [datetime.datetime.fromisoformat(t["start_date"]) for t in tis if t["start_date"]]
    ends = [datetime.datetime.fromisoformat(t["end_date"]) for t in tis if t["end_date"]]
    return round((max(ends) - min(starts)).total_seconds(), 1) if starts and ends else 0.0


def _stage_seconds(tis: list[dict[str, Any]]) -> dict[str, float]:
    """Per task id (a mapped task's instances together): first start to last end."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ti in tis:
        by_task[ti["task_id"]].append(ti)
    return {task: _span(group) for task, group in by_task.items()}


def _stage_cpu(usage: list[dict[str, Any]]) -> dict[str, float]:
    """Per task id, the CPU seconds of its task processes (every instance and try)."""
    cpu: dict[str, float] = defaultdict(float)
    for u in usage:
        cpu[u["task_id"]] += u["cpu_s"]
    return {task: round(seconds, 2) for task, seconds in cpu.items()}
