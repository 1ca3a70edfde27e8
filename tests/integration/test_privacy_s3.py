"""Erasure by crypto-shredding on S3 with Object Lock in compliance mode (a real
SeaweedFS), the ledger on the real Postgres: the erased customer's locked objects stay,
cannot be deleted and cannot be decrypted; ``audit verify`` passes; evidence and
re-rendering state the erasure; another customer is untouched (``privacy_scenario``)."""

from dataclasses import replace
from datetime import UTC, datetime

import botocore.exceptions
import pytest
from privacy_scenario import delivered_day, erase_and_check
from support import settings_for

from missiva.privacy.keys import CustomerErased
from missiva.privacy.retention import purge
from missiva.privacy.sealing import MAGIC, address_of, sealed
from missiva.records.audit import verify
from missiva.records.ledger import Ledger
from missiva.records.store import open_store
from missiva.records.store_s3 import S3ArtifactStore

pytestmark = pytest.mark.e2e
BUCKET = "missiva-privacy-archive"


def test_erasure_on_a_compliance_locked_s3_archive(s3_env, pg_url, tmp_path) -> None:
    client = s3_env.client()
    S3ArtifactStore(client, BUCKET, prefix="privacy").create_bucket()
    archive_url = (
        f"s3://{BUCKET}/privacy?endpoint_url={s3_env.endpoint_url}&region={s3_env.region}"
        "&retention_mode=COMPLIANCE&retention_days=1"
    )
    settings = replace(settings_for(tmp_path), archive_url=archive_url, ledger_url=pg_url)
    assert [c for c in delivered_day(settings) if c.status == "sent"]
    assert not (tmp_path / "archive").exists(), "everything archived on S3"

    raw = open_store(archive_url)
    with Ledger(pg_url) as ledger:
        target = erase_and_check(settings, ledger, raw)

        objects = [(target.input_uri, target.data_sha256)]
        objects.append((target.artifact_uri, target.artifact_sha256))
        for uri, sha256 in objects:
            key = uri.replace("archive:", "privacy/", 1)  # relative to the store
            head = client.head_object(Bucket=BUCKET, Key=key)
            assert head["ObjectLockMode"] == "COMPLIANCE"
            with pytest.raises(botocore.exceptions.ClientError):
                client.delete_object(Bucket=BUCKET, Key=key, VersionId=head["VersionId"])
            assert raw.get(uri, address_of(uri)).startswith(MAGIC), "still there, sealed"
            with pytest.raises(CustomerErased):
                sealed(raw, ledger).get(uri, sha256)

        # past every retention: the locked archive refuses deletion, so the purge
        # destroys the keys instead; the ledger still verifies
        store = sealed(raw, ledger)
        later = datetime(2037, 1, 1, tzinfo=UTC)
        result = purge(ledger, store, settings.retention, later, dry_run=False)
        assert result.locked and not result.deleted, "compliance-locked objects stay"
        sent = {c.customer_id for c in ledger.communications() if c.status == "sent"}
        assert sent <= set(result.erased) | {target.customer_id}
        for comm in ledger.communications():
            if comm.artifact_uri:
                with pytest.raises(CustomerErased, match=r"retention period expired|request"):
                    store.get(comm.artifact_uri, comm.artifact_sha256)
        assert verify(ledger, raw, full=True).problems == []
