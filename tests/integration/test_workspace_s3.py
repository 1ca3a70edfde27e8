"""Shared working data on a real S3 (SeaweedFS): what one worker (one MISSIVA_HOME)
stages, drops for print, batches or indexes, another worker with an empty home reads,
from ``<prefix>/work/`` of the archive's bucket, with no retention on those objects."""

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from print_letters import six_letters
from support import settings_for

from missiva.channels import registry
from missiva.channels.base import Delivery
from missiva.channels.print_batch import Letter, batch_unprinted
from missiva.flow import staging
from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.store import open_store
from missiva.records.store_s3 import ensure_bucket
from missiva.records.workspace import S3Workspace
from missiva.run_context import RunContext

BUCKET = "missiva-shared-work"
RUN = RunContext(
    dag_id="onboarding",
    run_id="scheduled__2026-11-02T00:00:00+00:00",
    task_id="t",
    try_number=1,
    interval_start=datetime(2026, 11, 2, tzinfo=UTC),
    interval_end=datetime(2026, 11, 3, tzinfo=UTC),
)


@pytest.fixture
def two_homes(s3_env, tmp_path: Path):
    """Two workers' settings: separate homes, one S3 archive (Object Lock, retention)."""
    ensure_bucket(s3_env.client(), BUCKET, object_lock=True)
    url = (
        f"s3://{BUCKET}/{tmp_path.name}?endpoint_url={s3_env.endpoint_url}"
        f"&region={s3_env.region}&retention_mode=GOVERNANCE&retention_days=1"
    )
    homes = []
    for name in ("worker-1", "worker-2"):
        home = tmp_path / name
        home.mkdir()
        homes.append(dataclasses.replace(settings_for(home), archive_url=url))
    return homes


def files_in(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def test_staging_written_on_one_worker_is_read_on_another(two_homes, s3_env):
    one, two = two_homes
    records = [{"row_id": n, "customer_id": f"C-{n}", "name": "Zoë"} for n in range(5)]
    staging(RUN, one).write_extract(["row_id", "customer_id", "name"], records)

    columns, read = staging(RUN, two).read_extract()
    assert (columns, read) == (["row_id", "customer_id", "name"], records)
    assert staging(RUN, two).write_chunks(read, 2) == [0, 1, 2]
    assert staging(RUN, one).read_chunk(2) == records[4:]
    assert staging(RUN, one).write_chunks(read[:3], 2) == [0, 1]  # old chunks go
    with pytest.raises(FileNotFoundError):
        staging(RUN, two).read_chunk(2)
    assert files_in(one.home) == files_in(two.home) == []

    store = open_store(one.archive_url)
    client, prefix = s3_env.client(), f"{store.prefix}/work/staging/onboarding/"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert len(keys) == 4  # columns, extract, two chunks
    head = client.head_object(Bucket=BUCKET, Key=keys[0])
    assert "ObjectLockMode" not in head, "working data carries no retention"
    client.delete_object(Bucket=BUCKET, Key=keys[0], VersionId=head["VersionId"])


def test_print_batch_from_letters_dropped_by_another_worker(two_homes):
    one, two = two_homes
    letters = six_letters()
    store_one = open_store(one.archive_url)
    paper = registry.get("paper")
    with paper.open_adapter(registry.Opening(one, store_one, None)) as drop:
        for item in letters:
            result = drop.send(
                Delivery(
                    communication_id=item.communication_id,
                    idempotency_key=item.communication_id,
                    recipient="\n".join(item.address_lines),
                    payload=item.pdf,
                    content_type="application/pdf",
                    metadata={"dag_id": "onboarding", "business_key": "2026-11-02"},
                )
            )
            assert result.provider_message_id.startswith(f"s3://{BUCKET}/")

    # worker 2 (empty home) finds the dropped letters and batches them
    run_folder = open_store(two.archive_url).workspace("print").sub("onboarding/2026-11-02")
    dropped = []
    for key in run_folder.list_keys():
        if "/" in key or not key.endswith(".pdf"):
            continue
        cid = key.removesuffix(".pdf")
        lines = tuple(json.loads(run_folder.get(f"{cid}.json"))["address"])
        original = next(x for x in letters if x.communication_id == cid)
        dropped.append(
            Letter(cid, run_folder.get(key), lines, original.postal_code, original.country)
        )
    assert sorted(x.communication_id for x in dropped) == [x.communication_id for x in letters]
    (batch,) = batch_unprinted(dropped, run_folder.sub("batches"), run_label="r")
    assert batch.manifest["totals"]["letters"] == 6
    assert str(batch.manifest_path).startswith(f"s3://{BUCKET}/")

    # worker 1 sees worker 2's manifest: nothing batched twice, a late letter goes late
    batches_one = open_store(one.archive_url).workspace("print").sub("onboarding/2026-11-02")
    assert batch_unprinted(letters, batches_one.sub("batches"), run_label="r") == []
    late = dataclasses.replace(letters[0], communication_id="c-07")
    (again,) = batch_unprinted([*letters, late], batches_one.sub("batches"), run_label="r")
    assert again.batch_id == "r-late1-b0001" and again.manifest["totals"]["letters"] == 1
    assert files_in(one.home) == files_in(two.home) == []


def test_portal_index_shared_between_workers(two_homes):
    one, two = two_homes
    portal = registry.get("portal")
    # the outbox opens channels on the sealed store (portal copies are the customer's),
    # its data keys in the one ledger every worker shares (Postgres in a deployment)
    ledger = Ledger(f"sqlite:///{one.home.parent / 'shared-ledger.db'}")
    inboxes = [
        portal.open_adapter(registry.Opening(s, sealed(open_store(s.archive_url), ledger), None))
        for s in (one, two)
    ]
    errors = []

    def deliver(inbox, n):
        try:
            inbox.deliver("C-1", f"comm-{n}", f"doc {n}", b"%PDF-1.7 " + bytes([n]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(inboxes[n % 2], n)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for inbox in inboxes:  # no entry lost to a concurrent rewrite
        ids = sorted(d["communication_id"] for d in inbox.inbox("C-1"))
        assert ids == sorted(f"comm-{n}" for n in range(8))
    assert files_in(one.home) == files_in(two.home) == []


def test_stale_s3_lock_is_taken_over(two_homes):
    store = open_store(two_homes[0].archive_url)
    space = S3Workspace(store.client, store.bucket, f"{store.prefix}/locks", stale_after=1)
    space.client.put_object(Bucket=space.bucket, Key=f"{space.prefix}/x.lock", Body=b"dead")
    started = time.monotonic()
    with space.lock("x"):
        pass
    assert time.monotonic() - started < 30
    assert space.list_keys() == [] and not space.exists("x.lock")


def test_deadline_alerts_go_to_the_bucket(two_homes):
    from missiva.delivery.deadline_alerts import alerts_file, record_missed_deadline
    from missiva.journeys import journey_named

    one, two = two_homes
    journey = journey_named("claims_letters")
    for settings, when in ((one, "2026-11-03T06:00:00+00:00"), (two, "2026-11-04T06:00:00")):
        record_missed_deadline(journey, RUN, when, settings, open_store(settings.archive_url))
    alerts = open_store(one.archive_url).workspace("alerts").get("deadlines.jsonl")
    lines = [json.loads(line) for line in alerts.decode().splitlines()]
    assert [a["deadline"] for a in lines] == ["2026-11-03T06:00:00+00:00", "2026-11-04T06:00:00"]
    assert not alerts_file(one).exists() and not alerts_file(two).exists()
