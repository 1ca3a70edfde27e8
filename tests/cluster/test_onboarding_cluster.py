"""The onboarding journey as deployed: triggered and watched through the REST API, run by
the scheduler on two Celery workers that share no disk, the ledger and core systems on
Postgres, the archive in S3 (SeaweedFS).

Asserts that the run succeeded, that both workers ran its tasks (the host name Airflow
recorded on each task instance), that every extracted customer is in the ledger, that
the SMTP server received exactly the e-mails the ledger says were sent, that the
archive objects are in S3 and that ``missiva audit verify`` passes on them; and that the
report deleted the run's staging (every version) from the versioned bucket, whose
lifecycle rule expires the old versions of the other working objects.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_runs import (
    check_accounted_for,
    check_one_mail_per_sent_email,
    communications,
    summary,
    task_instances,
    task_log,
    trigger,
    wait_for,
)

from missiva.devtools.cluster import Cluster

pytestmark = pytest.mark.cluster


class LocalStateNotShared(AssertionError):
    """A task failed because a file an earlier task wrote under another worker's
    MISSIVA_HOME (staging chunks, print drop, portal indexes) is not on its disk."""


def _local_state_failure(cluster: Cluster, run_id: str, tis: list[dict]) -> str | None:
    homes = [str(w.missiva_home) for w in cluster.workers]
    for ti in tis:
        if ti["state"] != "failed":
            continue
        log = task_log(cluster, run_id, ti)
        if "FileNotFoundError" in log and any(home in log for home in homes):
            return f"{ti['task_id']}[{ti.get('map_index', -1)}] on {ti.get('hostname')}"
    return None


def test_onboarding_on_the_cluster(cluster: Cluster):
    started = time.monotonic()
    with cluster.api() as api:
        run = trigger(api)
        run_id = run["dag_run_id"]
        run = wait_for(api, run, cluster.check)
        tis = task_instances(api, run_id)
    wall = time.monotonic() - started
    tasks = summary(cluster, run_id, tis)
    print(f"\nrun {run_id}: {run['state']} in {wall:.0f} s\n{tasks}")

    if run["state"] != "success" and (task := _local_state_failure(cluster, run_id, tis)):
        raise LocalStateNotShared(f"{task}: its input is on another worker's disk\n{tasks}")
    assert run["state"] == "success", f"run {run_id} {run['state']}:\n{tasks}"
    per_host: dict[str, int] = {}
    ran = [ti for ti in tis if ti["state"] != "skipped"]  # not the release gate's held path
    for ti in ran:
        per_host[ti["hostname"]] = per_host.get(ti["hostname"], 0) + 1
    print(f"tasks per worker: {per_host}")
    assert set(per_host) == {w.hostname for w in cluster.workers}, per_host
    skipped = {ti["task_id"] for ti in tis if ti["state"] == "skipped"}
    assert skipped == {"held.compose", "held.release", "held.deliver"}, skipped

    by_status = check_accounted_for(
        cluster, run_id, {"sent", "suppressed", "quarantined", "deferred"}
    )
    check_one_mail_per_sent_email(cluster, run_id)
    comms = communications(cluster, run_id)

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
    print(f"working objects in S3 (print, portal): {len(work)}")
    # the report deleted the run's staging (the customers' records), every version of it
    staged = client.list_object_versions(Bucket=cluster.bucket, Prefix="work/staging/")
    assert not staged.get("Versions") and not staged.get("DeleteMarkers"), staged
    rules = client.get_bucket_lifecycle_configuration(Bucket=cluster.bucket)["Rules"]
    assert [(r["Filter"]["Prefix"], r.get("NoncurrentVersionExpiration")) for r in rules] == [
        ("work/", {"NoncurrentDays": 1}),
        ("work/staging/", None),
    ]

    archived = {c.artifact_uri for c in comms if c.artifact_uri}
    assert archived and len(keys) >= len(archived)
    # references relative to the archive, each an object of the bucket
    assert all(uri.startswith("archive:sha256/") for uri in archived), archived
    assert {uri.removeprefix("archive:") for uri in archived} <= set(keys)

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
    print(f"customers {sum(by_status.values())}: {dict(by_status)}; wall {wall:.0f} s")


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
