"""Anchors under S3 Object Lock (SeaweedFS) for a Postgres ledger: an insider who can
write the database and delete objects in the bucket still cannot hide a cut-off tail.
"""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from ledger_fixtures import T0, cid, email_fields, raw_sql, send
from seaweedfs_server import SeaweedS3

from missiva.records import audit
from missiva.records.anchors import RUN, S3AnchorLog, anchor_log, write_anchor
from missiva.records.ledger import Ledger
from missiva.records.store import StoreError
from missiva.records.store_s3 import S3ArtifactStore, ensure_bucket


@pytest.fixture
def store(seaweedfs: SeaweedS3) -> S3ArtifactStore:
    client = seaweedfs.client()
    bucket = f"anchors-{uuid.uuid4().hex[:12]}"
    ensure_bucket(client, bucket, object_lock=True)
    return S3ArtifactStore(
        client, bucket, prefix="archive", retention_mode="COMPLIANCE", retention_days=1
    )


@pytest.fixture
def ledger(pg_url: str, store: S3ArtifactStore) -> Ledger:
    """Three e-mails sent (9 events) on Postgres, their input records in the bucket."""
    with Ledger(pg_url) as ledger:
        for n in (1, 2, 3):
            archived = store.put(json.dumps({"customer": n}).encode())
            ledger.add(**email_fields(n, input_uri=archived.uri, data_sha256=archived.sha256))
            send(ledger, n, T0)
        yield ledger


def test_an_anchor_is_a_locked_object_that_survives_deletion(
    ledger: Ledger, store: S3ArtifactStore, pg_url: str
) -> None:
    anchor = write_anchor(ledger, store, RUN, "onboarding/run-1")
    assert anchor is not None and (anchor.event_id, anchor.events) == (9, 9)
    log = anchor_log(store)
    assert isinstance(log, S3AnchorLog)
    key = f"archive/anchors/{anchor.name}.json"
    head = store.client.head_object(Bucket=store.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert audit.verify(ledger, store).problems == []

    # an anchor is never written over another
    with pytest.raises(StoreError):
        log.append(b"{}", anchor.name)
    # the insider: the anchored version cannot be deleted; a plain DELETE only adds a
    # delete marker, which hides the object from a listing but not from verify
    with pytest.raises(ClientError):
        store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=head["VersionId"])
    store.client.delete_object(Bucket=store.bucket, Key=key)
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix="archive/anchors/")
    assert "Contents" not in listed

    raw_sql(pg_url, "DELETE FROM events WHERE communication_id = :c", c=cid(3))
    raw_sql(pg_url, "DELETE FROM communications WHERE communication_id = :c", c=cid(3))
    assert ledger.verify_chain() == []
    (found,) = audit.verify(ledger, store).problems
    assert found.startswith(f"event 9: anchored by {anchor.name}.json (onboarding/run-1, ")
    assert found.endswith("(chain cut off: the newest events were deleted)")
