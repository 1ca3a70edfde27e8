"""The onboarding DAG archiving to S3 (a real SeaweedFS with Object Lock) through the
``missiva_archive`` Airflow Connection, its ledger and core systems on Postgres through
``missiva_ledger`` and ``missiva_core`` (Connections of fields, turned into URLs by the
Postgres provider's hook): every ledger row points at an object that exists, locked
objects cannot be deleted,
`audit verify` passes on S3, and the run's staging is gone once the report ran."""

import json

import botocore.exceptions
import pytest
from support import run_dag

from missiva.devtools.cluster_env import postgres_connection
from missiva.devtools.seed_url import load_into
from missiva.privacy.sealing import sealed
from missiva.records.audit import verify
from missiva.records.ledger import Ledger
from missiva.records.store_s3 import S3ArtifactStore
from missiva.settings import Settings

pytestmark = pytest.mark.e2e
BUCKET = "missiva-onboarding-archive"


def test_onboarding_archives_to_s3_with_object_lock(journey_env, seaweedfs, pg_url, monkeypatch):
    home, _ = journey_env
    client = seaweedfs.client()
    S3ArtifactStore(client, BUCKET, prefix="onboarding").create_bucket()
    extra = {
        "bucket": BUCKET,
        "prefix": "onboarding",
        "endpoint_url": seaweedfs.endpoint_url,
        "region_name": seaweedfs.region,
        "retention_mode": "COMPLIANCE",
        "retention_days": 1,
    }
    conn = {"conn_type": "aws", "login": seaweedfs.access_key, "password": seaweedfs.secret_key}
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_ARCHIVE", json.dumps(conn | {"extra": extra}))
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_LEDGER", json.dumps(postgres_connection(pg_url)))
    # the core systems on Postgres too (beside the ledger's tables), a Connection of fields
    load_into(pg_url, home / "core.db")
    (home / "core.db").unlink()
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_CORE", json.dumps(postgres_connection(pg_url)))

    assert run_dag().state == "success"

    assert not (home / "ledger.db").exists(), "the tasks used the missiva_ledger Connection"
    ledger = Ledger(pg_url)
    sent = [c for c in ledger.communications() if c.status == "sent"]
    assert sent and not (home / "archive").exists(), "nothing archived locally"
    for comm in sent:
        address = comm.artifact_uri.rsplit("/", 1)[-1]
        assert comm.artifact_uri == f"archive:sha256/{address[:2]}/{address}"
        assert address != comm.artifact_sha256, "sealed: stored at the ciphertext's address"
        key = comm.artifact_uri.replace("archive:", "onboarding/", 1)
        head = client.head_object(Bucket=BUCKET, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
    locked = sent[0].artifact_uri.replace("archive:", "onboarding/", 1)
    version = client.head_object(Bucket=BUCKET, Key=locked)["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError):
        client.delete_object(Bucket=BUCKET, Key=locked, VersionId=version)

    store = sealed(S3ArtifactStore(client, BUCKET, prefix="onboarding"), ledger)
    checked = verify(ledger, store, settings=Settings.from_env())
    assert checked.problems == [] and checked.files.unrecorded == []
    assert checked.files.manifests == 1  # the day's print batch, in the bucket's work/print/
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="onboarding/work/print/")["Contents"]
    (manifest,) = [o["Key"] for o in listed if o["Key"].endswith(".manifest.json")]
    body = client.get_object(Bucket=BUCKET, Key=manifest)["Body"].read()
    client.put_object(
        Bucket=BUCKET, Key=manifest, Body=body.replace(b'"pages": ', b'"pages": 9', 1)
    )
    (problem,) = verify(ledger, store, settings=Settings.from_env()).problems
    assert problem.startswith(f"print manifest s3://{BUCKET}/{manifest}: differs from the sha256")
    staged = client.list_object_versions(Bucket=BUCKET, Prefix="onboarding/work/staging/")
    assert not staged.get("Versions") and not staged.get("DeleteMarkers"), "staging deleted"
