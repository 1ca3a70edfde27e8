"""``missiva bench journey``: a real onboarding run of 20 customers through the scheduler
(LocalExecutor, Postgres, SeaweedFS, the SMTP and SMS sinks), its JSON complete and
consistent with the ledger and what the SMTP sink received (no timing thresholds: the
machine is shared); the per-task usage listener; the core pinning.

Needs Postgres, Redis and the ``weed`` binary (skipped without them, failed under
``CI=true``); the run takes a few minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from support import mail_by_recipient, require_cluster_services

from missiva.devtools.bench_journey import PLUGIN_SOURCE, bench_journey, pinned
from missiva.devtools.cluster import POSTGRES_URL

CUSTOMERS = 20


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    require_cluster_services()
    root = tmp_path_factory.mktemp("bench-journey")
    result = bench_journey(CUSTOMERS, root=root, timeout=900, sample=10)
    print(json.dumps(result, indent=2))
    return result, root


def _stage(stages: dict[str, float], name: str) -> float:
    """A stage's figure by its task id, in a task group or not (``chunk.compose``)."""
    (value,) = [v for task, v in stages.items() if task.rsplit(".", 1)[-1] == name]
    return value


def test_the_run_is_accounted_for_and_delivered(bench_run):
    result, root = bench_run
    assert result["state"] == "success"
    assert result["accounted"] is True
    report = result["run_report"]
    assert report["extracted"] > 0
    assert sum(report["statuses"].values()) == report["extracted"]
    sent_email = report["sent_by_channel"].get("email", 0)
    assert sent_email > 0
    received = mail_by_recipient(root / "mail")
    assert sum(len(messages) for messages in received.values()) == sent_email


def test_the_figures_are_complete_and_consistent(bench_run):
    result, _ = bench_run
    assert (result["customers"], result["executor"]) == (CUSTOMERS, "local")
    assert result["cores"] == len(os.sched_getaffinity(0))
    assert result["wall_s"] > 0
    # every task process reported its usage, and the stages add up to the total
    assert result["task_processes"] >= result["task_instances"] >= 6
    stage_cpu = result["stage_cpu_s"]
    total = result["cpu_s_per_customer"] * CUSTOMERS
    assert sum(stage_cpu.values()) == pytest.approx(total, rel=0.01, abs=0.05)
    assert set(stage_cpu) == set(result["stage_seconds"])
    for stage in ("extract", "validate", "compose", "deliver", "report"):
        assert _stage(result["stage_seconds"], stage) > 0
        assert _stage(stage_cpu, stage) > 0
    assert 0 < result["peak_task_rss_mb"] < 4096
    # rendering alone: a sample of what the run itself rendered
    sample = result["render_sample"]
    report = result["run_report"]
    assert sample["rendered_in_run"] >= sum(report["sent_by_channel"].values())
    assert 0 < sample["sample"] <= min(10, sample["rendered_in_run"])
    assert sum(sample["sample_by_channel"].values()) == sample["sample"]
    compose = result["compose_cpu_s_per_customer"]
    assert compose == pytest.approx(
        sample["cpu_s_per_communication"] * sample["rendered_in_run"] / CUSTOMERS, rel=0.01
    )
    # the tasks do more than render (validation, ledger, archive, delivery, Airflow)
    assert result["overhead_ratio"] == pytest.approx(result["cpu_s_per_customer"] / compose, 0.01)
    assert result["overhead_ratio"] > 1


def test_a_task_process_writes_its_own_usage(tmp_path, monkeypatch):
    from missiva.orchestration.task_usage import USAGE_DIR_ENV, TaskUsageListener

    listener = TaskUsageListener()
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3, try_number=2)
    listener.before_stopping(component=None)  # not a task: nothing to write
    assert not list(tmp_path.iterdir())
    listener.on_task_instance_running(previous_state=None, task_instance=ti)
    monkeypatch.delenv(USAGE_DIR_ENV, raising=False)
    listener.before_stopping(component=None)  # no folder named: nothing either
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(USAGE_DIR_ENV, str(tmp_path / "usage"))
    sum(i * i for i in range(200_000))  # some CPU of its own
    listener.before_stopping(component=None)
    (written,) = (tmp_path / "usage").iterdir()
    assert written.name.startswith("t.3.2.")
    usage = json.loads(written.read_text())
    assert (usage["dag_id"], usage["run_id"], usage["task_id"]) == ("d", "r", "t")
    assert usage["cpu_s"] > 0 and usage["peak_rss_mb"] > 0


def test_the_plugins_folder_module_registers_the_listener():
    from missiva.orchestration.task_usage import TaskUsageListener

    plugin_module: dict = {}
    exec(PLUGIN_SOURCE, plugin_module)  # the module the benchmark writes
    (listener,) = plugin_module["TaskUsagePlugin"].listeners
    assert isinstance(listener, TaskUsageListener)


def test_pinning_restores_the_affinity_and_refuses_too_many_cores():
    before = os.sched_getaffinity(0)
    with pinned(1) as cores:
        assert cores == 1 == len(os.sched_getaffinity(0))
    assert os.sched_getaffinity(0) == before
    with pytest.raises(ValueError, match="cores"), pinned(len(before) + 1):
        pass
    with pytest.raises(ValueError, match="executor"):
        bench_journey(1, executor="kubernetes")


def test_a_terminated_benchmark_stops_its_cluster(tmp_path: Path) -> None:
    """SIGTERM (a CI timeout, ``kill``) stops the benchmark like Ctrl-C: no process of
    its cluster keeps running and its databases are dropped."""
    require_cluster_services()
    missiva = Path(sys.executable).with_name("missiva")
    bench = subprocess.Popen(
        [missiva, "bench", "journey", "--customers", "5", "--root", tmp_path, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in bench.stderr:
        seen.append(line)
        if line.startswith("cluster ready"):
            break
    databases = re.search(r"databases (\S+), (\S+), (\S+) created", "".join(seen)).groups()
    assert _processes_under(tmp_path), "the cluster should be running"

    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=180) == 128 + signal.SIGTERM

    assert _processes_under(tmp_path) == []
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as db:
        left = db.execute(
            "select datname from pg_database where datname = any(%s)", [list(databases)]
        ).fetchall()
    assert left == []


def _processes_under(root: Path) -> list[int]:
    """The processes started for a cluster under ``root`` (by their command line or
    their AIRFLOW_HOME / MISSIVA_HOME)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if str(root).encode() in seen and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found
