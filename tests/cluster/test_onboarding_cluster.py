"""The onboarding journey as deployed: triggered and watched through the REST API, run by
the scheduler on two Celery workers that share no disk, the ledger and core systems on
Postgres, the archive in S3 (SeaweedFS).

Asserts that the run succeeded, that both workers ran its tasks (the host name Airflow
recorded on each task instance), that every extracted customer is in the ledger, that
the SMTP server received exactly the e-mails the ledger says were sent, that the
archive objects are in S3 and that ``missiva audit verify`` passes on them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support import mail_by_recipient

from missiva.devtools.cluster import Cluster
from missiva.records.ledger import Ledger

pytestmark = pytest.mark.cluster

DAG_ID = "onboarding"
LOGICAL_DATE = "2026-11-03T00:00:00Z"  # daily interval [2026-11-02, 2026-11-03)
RUN_TIMEOUT = 1200.0


class LocalStateNotShared(AssertionError):
    """A task failed because a file an earlier task wrote under another worker's
    MISSIVA_HOME (staging chunks, print drop, portal indexes) is not on its disk."""


def _local_state_failure(cluster: Cluster, run_id: str, tis: list[dict]) -> str | None:
    homes = [str(w.missiva_home) for w in cluster.workers]
    for ti in tis:
        if ti["state"] != "failed":
            continue
        log = _task_log(cluster, run_id, ti)
        if "FileNotFoundError" in log and any(home in log for home in homes):
            return f"{ti['task_id']}[{ti.get('map_index', -1)}] on {ti.get('hostname')}"
    return None


def _task_log(cluster: Cluster, run_id: str, ti: dict) -> str:
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


def _summary(cluster: Cluster, run_id: str, tis: list[dict]) -> str:
    lines = []
    for ti in sorted(tis, key=lambda t: (t.get("start_date") or "", t["task_id"])):
        lines.append(
            f"  {ti['task_id']}[{ti.get('map_index', -1)}] {ti['state']} on {ti.get('hostname')}"
        )
        if ti["state"] == "failed":
            lines.append(_task_log(cluster, run_id, ti))
    return "\n".join(lines)


def test_onboarding_on_the_cluster(cluster: Cluster):
    started = time.monotonic()
    with cluster.api() as api:
        response = api.patch(f"/dags/{DAG_ID}", json={"is_paused": False})
        assert response.status_code == 200, response.text
        response = api.post(
            f"/dags/{DAG_ID}/dagRuns",
            json={"logical_date": LOGICAL_DATE, "conf": {"chunk_size": 50}},
        )
        assert response.status_code == 200, response.text
        run = response.json()
        run_id = run["dag_run_id"]
        assert run["data_interval_start"].startswith("2026-11-02T00:00:00")
        assert run["data_interval_end"].startswith("2026-11-03T00:00:00")
        deadline = time.monotonic() + RUN_TIMEOUT
        while run["state"] not in ("success", "failed"):
            assert time.monotonic() < deadline, f"run {run_id} still {run['state']}"
            cluster.check()
            time.sleep(3)
            run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
        tis = api.get(
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        ).json()["task_instances"]
    wall = time.monotonic() - started
    summary = _summary(cluster, run_id, tis)
    print(f"\nrun {run_id}: {run['state']} in {wall:.0f} s\n{summary}")

    if run["state"] != "success" and (task := _local_state_failure(cluster, run_id, tis)):
        raise LocalStateNotShared(f"{task}: its input is on another worker's disk\n{summary}")
    assert run["state"] == "success", f"run {run_id} {run['state']}:\n{summary}"
    per_host: dict[str, int] = {}
    for ti in tis:
        per_host[ti["hostname"]] = per_host.get(ti["hostname"], 0) + 1
    print(f"tasks per worker: {per_host}")
    assert set(per_host) == {w.hostname for w in cluster.workers}, per_host

    engine = create_engine(cluster.core_url)
    try:
        with engine.connect() as conn:
            extracted = {
                row[0]
                for row in conn.execute(
                    text(
                        "SELECT row_id FROM customers WHERE joined_at >= '2026-11-02 00:00:00' "
                        "AND joined_at < '2026-11-03 00:00:00'"
                    )
                )
            }
    finally:
        engine.dispose()
    with Ledger(cluster.ledger_url) as ledger:
        comms = [c for c in ledger.communications(journey=DAG_ID) if c.run_id == run_id]
    rows = {c.source_row_id: c for c in comms}
    assert set(rows) == extracted, "every extracted customer is in the ledger, no other"
    statuses = {c.status for c in comms}
    assert statuses <= {"sent", "suppressed", "quarantined", "deferred"}, statuses

    sent_email = sorted(c.recipient for c in comms if c.status == "sent" and c.channel == "email")
    received = mail_by_recipient(cluster.maildir)
    assert sorted(r for r, msgs in received.items() for _ in msgs) == sent_email
    for comm in comms:
        if comm.status == "sent" and comm.channel == "email":
            (message,) = received[comm.recipient]
            assert message["Message-ID"] == f"<{comm.communication_id}@missiva.example>"

    client = _s3_client(cluster)
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket)
        for obj in page.get("Contents", [])
    ]
    for worker in cluster.workers:  # the hand-over went through S3, not a local disk
        local = [
            p
            for area in ("staging", "print", "portal")
            for p in (worker.missiva_home / area).rglob("*")
            if p.is_file()
        ]
        assert local == [], f"{worker.hostname} keeps shared state on its disk: {local[:5]}"
    work = [k for k in keys if "/work/" in f"/{k}"]
    print(f"working objects in S3 (staging, print, portal): {len(work)}")

    archived = {c.artifact_uri for c in comms if c.artifact_uri}
    assert archived and len(keys) >= len(archived)
    assert all(uri.startswith(f"s3://{cluster.bucket}/") for uri in archived), archived

    verify = subprocess.run(
        [
            str(Path(sys.executable).with_name("missiva")),
            "audit",
            "--ledger",
            cluster.ledger_url,
            "verify",
        ],
        env=cluster.cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    assert "verify: intact" in verify.stdout
    by_status: dict[str, int] = {}
    for comm in comms:
        by_status[comm.status] = by_status.get(comm.status, 0) + 1
    print(f"customers {len(extracted)}: {by_status}; wall {wall:.0f} s")


def _s3_client(cluster: Cluster):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=cluster.s3_endpoint,
        region_name=cluster.s3_region,
        aws_access_key_id=cluster.s3_access_key,
        aws_secret_access_key=cluster.s3_secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )
