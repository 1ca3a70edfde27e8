"""Running the onboarding journey on the cluster through the REST API, and reading back
what it did (task instances and their logs, the customers it should have reached, the
ledger, the SMTP sink): shared by the cluster tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage

import httpx
from sqlalchemy import create_engine, text
from support import mail_by_recipient

from missiva.devtools.cluster import Cluster
from missiva.records.models import Communication

DAG_ID = "onboarding"
LOGICAL_DATE = "2026-11-03T00:00:00Z"  # daily interval [2026-11-02, 2026-11-03)
RUN_TIMEOUT = 1800.0


def trigger(api: httpx.Client, chunk_size: int = 50) -> dict:
    """Unpause onboarding and trigger its run of :data:`LOGICAL_DATE`; the new run."""
    response = api.patch(f"/dags/{DAG_ID}", json={"is_paused": False})
    assert response.status_code == 200, response.text
    response = api.post(
        f"/dags/{DAG_ID}/dagRuns",
        json={"logical_date": LOGICAL_DATE, "conf": {"chunk_size": chunk_size}},
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["data_interval_start"].startswith("2026-11-02T00:00:00")
    assert run["data_interval_end"].startswith("2026-11-03T00:00:00")
    return run


def task_instances(api: httpx.Client, run_id: str) -> list[dict]:
    response = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    return response.json()["task_instances"]


def wait_for(
    api: httpx.Client,
    run: dict,
    check: Callable[[], None],
    on_poll: Callable[[], None] = lambda: None,
    pause: float = 3.0,
) -> dict:
    """Poll the run until it succeeded or failed (``check`` raises if a part of the
    cluster died; ``on_poll`` runs at each poll); the run as the API last showed it."""
    run_id = run["dag_run_id"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while run["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run {run_id} still {run['state']}"
        check()
        on_poll()
        time.sleep(pause)
        run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
    return run


def task_log(cluster: Cluster, run_id: str, ti: dict) -> str:
    """The tail of a task instance's log, read from the worker that ran it (its own
    AIRFLOW_HOME; the test runs on the same machine, the cluster's parts do not)."""
    for worker in cluster.workers:
        if worker.hostname != ti.get("hostname"):
            continue
        for path in sorted((worker.airflow_home / "logs").rglob("*.log")):
            parts = path.as_posix()
            if f"run_id={run_id}" not in parts or f"task_id={ti['task_id']}" not in parts:
                continue
            if ti.get("map_index", -1) >= 0 and f"map_index={ti['map_index']}" not in parts:
                continue
            return "\n".join(path.read_text(errors="replace").splitlines()[-25:])
    return "(no log found)"


def summary(cluster: Cluster, run_id: str, tis: list[dict]) -> str:
    """One line per task instance (state, worker, try), the log tail of failed ones."""
    lines = []
    for ti in sorted(tis, key=lambda t: (t.get("start_date") or "", t["task_id"])):
        lines.append(
            f"  {ti['task_id']}[{ti.get('map_index', -1)}] {ti['state']} on "
            f"{ti.get('hostname')} (try {ti.get('try_number')})"
        )
        if ti["state"] == "failed":
            lines.append(task_log(cluster, run_id, ti))
    return "\n".join(lines)


def extracted_customers(cluster: Cluster) -> set[int]:
    """The core systems' customers who joined on the run's day (what extract reads)."""
    engine = create_engine(cluster.core_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT row_id FROM customers WHERE joined_at >= '2026-11-02 00:00:00' "
                    "AND joined_at < '2026-11-03 00:00:00'"
                )
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def communications(cluster: Cluster, run_id: str) -> list[Communication]:
    with cluster.open_ledger() as ledger:
        return [c for c in ledger.communications(journey=DAG_ID) if c.run_id == run_id]


def check_accounted_for(cluster: Cluster, run_id: str, statuses: set[str]) -> Counter:
    """Every extracted customer is in the ledger (no other), each communication in one of
    ``statuses``; the count by status."""
    comms = communications(cluster, run_id)
    assert {c.source_row_id for c in comms} == extracted_customers(cluster), (
        "every extracted customer is in the ledger, no other"
    )
    by_status = Counter(c.status for c in comms)
    assert set(by_status) <= statuses, by_status
    return by_status


def received_mail(cluster: Cluster) -> dict[str, list[EmailMessage]]:
    return mail_by_recipient(cluster.maildir)


def check_one_mail_per_sent_email(cluster: Cluster, run_id: str) -> None:
    """The SMTP sink received exactly the e-mails the ledger says were sent, each once,
    with the communication's Message-ID."""
    comms = communications(cluster, run_id)
    sent = [c for c in comms if c.status == "sent" and c.channel == "email"]
    received = received_mail(cluster)
    for comm in sent:
        (message,) = received.get(comm.recipient, [])
        assert message["Message-ID"] == f"<{comm.communication_id}@missiva.example>"
    others = {r: len(m) for r, m in received.items() if r not in {c.recipient for c in sent}}
    in_review = {c.recipient for c in comms if c.status == "review"}
    assert set(others) <= in_review, f"mail the ledger does not say was sent: {others}"
    assert all(n == 1 for n in others.values()), f"an e-mail in doubt received twice: {others}"
