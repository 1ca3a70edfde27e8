"""The archive of the ``missiva_archive`` Connection, through the Amazon provider's
``S3Hook``, on a real S3 (SeaweedFS, signed requests): the bucket it creates has Object
Lock and the lifecycle rule of its ``work/`` objects, archived objects round-trip,
clearing a working area removes every version (not only the current one), and a wrong
secret is refused."""

from __future__ import annotations

import json
import uuid

import pytest

from missiva.orchestration import connections
from missiva.records.artifacts import StoreError
from missiva.records.store_s3 import S3ArtifactStore, bucket_has_object_lock
from missiva.settings import Settings


def _archive(monkeypatch, seaweedfs, bucket: str, secret: str | None = None) -> S3ArtifactStore:
    conn = {
        "conn_type": "aws",
        "login": seaweedfs.access_key,
        "password": secret or seaweedfs.secret_key,
        "extra": {
            "endpoint_url": seaweedfs.endpoint_url,
            "region_name": seaweedfs.region,
            "service_config": {"s3": {"bucket_name": bucket}},
            "prefix": "missiva",
            "retention_mode": "GOVERNANCE",
            "retention_days": 1,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_ARCHIVE", json.dumps(conn))
    store = connections.artifact_store(Settings.from_env())
    assert isinstance(store, S3ArtifactStore)
    return store


def test_the_hooks_archive_creates_its_bucket_and_round_trips(seaweedfs, monkeypatch):
    bucket = f"hooked-{uuid.uuid4().hex[:10]}"
    store = _archive(monkeypatch, seaweedfs, bucket)
    assert store.create_bucket() is True
    assert store.create_bucket() is False  # idempotent
    client = seaweedfs.client()
    assert bucket_has_object_lock(client, bucket)
    rule, staging = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"]["Prefix"] == "missiva/work/"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    # a failed run's staging (its customers' records) is not kept for ever
    assert staging["Filter"]["Prefix"] == "missiva/work/staging/"
    assert staging["Expiration"] == {"Days": 7}

    artifact = store.put(b"%PDF-1.7 welcome letter", content_type="application/pdf")
    assert artifact.uri.startswith("archive:sha256/")
    assert store.get(artifact.uri, artifact.sha256) == b"%PDF-1.7 welcome letter"
    key = store.key_for(artifact.sha256)
    assert key.startswith("missiva/sha256/")
    assert client.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "GOVERNANCE"


def test_clearing_a_working_area_removes_every_version(seaweedfs, monkeypatch):
    bucket = f"hooked-{uuid.uuid4().hex[:10]}"
    store = _archive(monkeypatch, seaweedfs, bucket)
    store.create_bucket()
    staging = store.workspace("staging").sub("onboarding/run-1")
    staging.put("extract.jsonl", b'{"name": "Zoe", "iban": "IT60X0542811101000000123456"}\n')
    staging.put("extract.jsonl", b'{"name": "Zoe"}\n')  # a second version
    staging.put("chunk-00000.jsonl", b'{"name": "Zoe"}\n')
    staging.delete("chunk-00000.jsonl")  # a delete marker over a version
    other_run = store.workspace("staging").sub("onboarding/run-2")
    other_run.put("extract.jsonl", b"{}\n")
    client = seaweedfs.client()
    prefix = "missiva/work/staging/onboarding/run-1/"
    before = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert len(before["Versions"]) == 3 and len(before["DeleteMarkers"]) == 1

    assert staging.clear() == 2  # objects (keys) that had data

    after = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert not after.get("Versions") and not after.get("DeleteMarkers")
    assert other_run.list_keys() == ["extract.jsonl"], "another run's staging is kept"
    assert staging.clear() == 0


def test_a_wrong_secret_in_the_connection_is_refused(seaweedfs, monkeypatch):
    bucket = f"hooked-{uuid.uuid4().hex[:10]}"
    _archive(monkeypatch, seaweedfs, bucket).create_bucket()
    store = _archive(monkeypatch, seaweedfs, bucket, secret="not-the-secret")
    with pytest.raises(StoreError, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKey"):
        store.put(b"x")
