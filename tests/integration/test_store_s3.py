"""The S3 artifact store against a real S3-compatible server (SeaweedFS, see conftest).

What SeaweedFS 4.48 enforces for Object Lock, as these tests observe it through its S3
API, matches AWS S3 on every point checked here:

- a bucket created with Object Lock has versioning enabled and cannot suspend it;
- a version under COMPLIANCE retention cannot be deleted (``AccessDenied``), not even
  with ``x-amz-bypass-governance-retention``, nor through ``DeleteObjects``; its
  retention cannot be shortened nor downgraded to GOVERNANCE (only extended);
- a version under GOVERNANCE retention can be deleted by an identity allowed to bypass
  governance (here the admin) when it sends the bypass header;
- a legal hold blocks deleting the version until it is turned off;
- an overwrite (PUT on the same key) is accepted and only adds a newer version, and a
  DELETE without a version id only adds a delete marker: the locked version stays and a
  versioned GET still returns the original bytes. So WORM protects *versions*; the
  store, which reads the latest version, reports the object as altered or missing;
- Object Lock headers on a bucket without Object Lock are refused (``InvalidRequest``);
- a non-empty locked bucket cannot be deleted (``BucketNotEmpty``).

Deviation from AWS (SeaweedFS-specific, documented by
``test_seaweedfs_filer_api_bypasses_object_lock``): Object Lock is enforced by the S3
gateway only. The filer's own HTTP API deletes a locked bucket's data outright, so a
SeaweedFS used as WORM storage must expose only its S3 port.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from seaweedfs_server import SeaweedS3, free_ports

from missiva.records.store import (
    Artifact,
    ArtifactIntegrityError,
    ArtifactStore,
    StoreError,
    StoreUnavailable,
    open_store,
)
from missiva.records.store_s3 import S3ArtifactStore, client_config, ensure_bucket, make_client

LETTER = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"
META = {"journey": "onboarding", "communication-id": "6f1c2b9e-0d4a-5e8f-9b7c-3a2d1e0f4c5b"}


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


# --- round trip, idempotence, integrity -----------------------------------------------


def test_round_trip_with_content_type_and_metadata(seaweedfs: SeaweedS3) -> None:
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket()
    store = S3ArtifactStore(client, bucket, prefix="/archive/v1/")
    assert isinstance(store, ArtifactStore)

    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)

    digest = hashlib.sha256(LETTER).hexdigest()
    key = f"archive/v1/sha256/{digest[:2]}/{digest}"
    assert artifact == Artifact(
        uri=f"archive:sha256/{digest[:2]}/{digest}", sha256=digest, size=len(LETTER)
    )
    assert store.get(artifact.uri, artifact.sha256) == LETTER
    store.verify(artifact.uri, artifact.sha256)
    assert store.exists(digest)
    assert not store.exists(hashlib.sha256(b"never stored").hexdigest())

    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/pdf"
    assert head["ContentLength"] == len(LETTER)
    assert head["Metadata"] == {**META, "sha256": digest}
    # uploaded with ChecksumSHA256: the server checked the bytes against our digest
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()

    info = store.info(digest)
    assert (info.uri, info.size, info.content_type) == (
        artifact.uri,
        len(LETTER),
        "application/pdf",
    )
    assert info.metadata == META

    # another client and store on the same bucket find it too
    again = S3ArtifactStore(seaweedfs.client(), bucket, prefix="archive/v1")
    assert again.get(artifact.uri, artifact.sha256) == LETTER


def test_same_bytes_same_key_stored_once(seaweedfs: SeaweedS3) -> None:
    """In a versioned bucket a rewrite would show as a second version: there is none,
    and the first put's metadata stays (metadata belongs to the first archiving)."""
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket(object_lock=True)  # Object Lock implies versioning
    store = S3ArtifactStore(client, bucket)

    first = store.put(b"hello", content_type="text/plain", metadata={"communication-id": "a"})
    second = store.put(b"hello", content_type="text/plain", metadata={"communication-id": "b"})
    other = store.put(b"hello!")

    assert first == second
    assert other.uri != first.uri
    versions = client.list_object_versions(Bucket=bucket)
    assert sorted(v["Key"] for v in versions["Versions"]) == sorted(
        [store.key_for(first.sha256), store.key_for(other.sha256)]
    )
    assert not versions.get("DeleteMarkers")
    assert store.info(first.sha256).metadata == {"communication-id": "a"}


def test_get_detects_an_altered_object(seaweedfs: SeaweedS3) -> None:
    """Overwritten behind the store's back, even with a forged ``sha256`` metadata and
    the same length: the bytes are re-hashed, so get/verify refuse them and a new put
    of the original bytes refuses to paper over the alteration."""
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket()
    store = S3ArtifactStore(client, bucket)
    artifact = store.put(b"the archived letter", content_type="text/plain")
    client.put_object(
        Bucket=bucket,
        Key=store.key_for(artifact.sha256),
        Body=b"the archived letteR",
        ContentType="text/plain",
        Metadata={"sha256": artifact.sha256},
    )

    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        store.get(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        store.verify(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="refusing to overwrite"):
        store.put(b"the archived letter")
    assert (
        client.get_object(Bucket=bucket, Key=store.key_for(artifact.sha256))["Body"]
        .read()
        .endswith(b"R")
    )


def test_get_detects_a_deleted_object(seaweedfs: SeaweedS3) -> None:
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket()
    store = S3ArtifactStore(client, bucket)
    artifact = store.put(b"the archived letter")
    client.delete_object(Bucket=bucket, Key=store.key_for(artifact.sha256))

    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.get(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.verify(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.info(artifact.sha256)
    assert not store.exists(artifact.sha256)
    # the same bytes archived again are back at the same address
    assert store.put(b"the archived letter") == artifact
    assert store.get(artifact.uri, artifact.sha256) == b"the archived letter"


def test_get_refuses_a_uri_that_is_not_the_hash_address(seaweedfs: SeaweedS3) -> None:
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket()
    store = S3ArtifactStore(client, bucket, prefix="p")
    a, b = store.put(b"a"), store.put(b"b")
    with pytest.raises(ArtifactIntegrityError, match="not the address"):
        store.get(a.uri, b.sha256)
    # the reference is relative: another prefix resolves it there, where it is not
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        S3ArtifactStore(client, bucket, prefix="q").get(a.uri, a.sha256)
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        store.get(a.uri, "../" + a.sha256[3:])


def test_missing_bucket_is_a_store_error_not_an_integrity_error(seaweedfs: SeaweedS3) -> None:
    store = S3ArtifactStore(seaweedfs.client(), f"absent-{uuid.uuid4().hex[:8]}")
    digest = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(StoreError, match="NoSuchBucket") as excinfo:
        store.get(store.uri_for(digest), digest)
    assert not isinstance(excinfo.value, ArtifactIntegrityError)


# --- WORM: Object Lock retention and legal hold ---------------------------------------


def test_compliance_retention_keeps_the_original_version(seaweedfs: SeaweedS3) -> None:
    """COMPLIANCE: the version cannot be deleted (even with the governance bypass, even
    in a batch) nor its retention shortened or downgraded; an overwrite and a plain
    DELETE are accepted but only add a version / a delete marker, so what a versioned
    GET of the original returns never changes. Same as AWS S3 (see module docstring)."""
    client = seaweedfs.client()
    bucket = f"worm-{uuid.uuid4().hex[:12]}"
    assert ensure_bucket(client, bucket, object_lock=True) is True
    assert ensure_bucket(client, bucket, object_lock=True) is False  # idempotent
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    with pytest.raises(ClientError):
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})

    store = S3ArtifactStore(client, bucket, retention_mode="COMPLIANCE", retention_days=1)
    before = datetime.now(UTC)
    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)
    after = datetime.now(UTC)
    key = store.key_for(artifact.sha256)

    head = client.head_object(Bucket=bucket, Key=key)
    version = head["VersionId"]
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    slack = timedelta(seconds=2)  # S3 dates have second precision
    assert before + timedelta(days=1) - slack <= until <= after + timedelta(days=1) + slack

    # deleting the version is refused, with or without the governance bypass
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert error_code(denied) == "AccessDenied"
    with pytest.raises(ClientError) as denied:
        client.delete_object(
            Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True
        )
    assert error_code(denied) == "AccessDenied"
    batch = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]}
    )
    assert [e["Code"] for e in batch.get("Errors", [])] == ["AccessDenied"]
    # the retention can be extended, never shortened nor downgraded
    for mode, days in (("COMPLIANCE", 0.5), ("GOVERNANCE", 3)):
        with pytest.raises(ClientError):
            client.put_object_retention(
                Bucket=bucket,
                Key=key,
                VersionId=version,
                Retention={"Mode": mode, "RetainUntilDate": after + timedelta(days=days)},
            )

    # overwriting is accepted and adds a version; the store sees the latest (altered)
    forged = client.put_object(Bucket=bucket, Key=key, Body=b"forged", Metadata=head["Metadata"])
    assert forged["VersionId"] != version
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        store.get(artifact.uri, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="refusing to overwrite"):
        store.put(LETTER)
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == LETTER

    # a DELETE without version only hides it behind a delete marker
    assert client.delete_object(Bucket=bucket, Key=key)["DeleteMarker"] is True
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.get(artifact.uri, artifact.sha256)
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == LETTER
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert version in {v["VersionId"] for v in versions}

    with pytest.raises(ClientError) as not_empty:
        client.delete_bucket(Bucket=bucket)
    assert error_code(not_empty) == "BucketNotEmpty"


def test_legal_hold_prevents_deletion(seaweedfs: SeaweedS3) -> None:
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket(object_lock=True)
    store = S3ArtifactStore(client, bucket, legal_hold=True)  # a hold without retention
    artifact = store.put(LETTER, content_type="application/pdf")
    key = store.key_for(artifact.sha256)
    head = client.head_object(Bucket=bucket, Key=key)
    version = head["VersionId"]
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert "ObjectLockMode" not in head

    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert error_code(denied) == "AccessDenied"
    assert store.get(artifact.uri, artifact.sha256) == LETTER

    # the hold is what protected it: lifted, the version can go
    client.put_object_legal_hold(
        Bucket=bucket, Key=key, VersionId=version, LegalHold={"Status": "OFF"}
    )
    client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert not store.exists(artifact.sha256)


def test_governance_retention_yields_only_to_the_bypass(seaweedfs: SeaweedS3) -> None:
    """GOVERNANCE is not WORM against an identity allowed to bypass it (here the admin):
    use COMPLIANCE where regulation requires immutability."""
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket(object_lock=True)
    store = S3ArtifactStore(client, bucket, retention_mode="governance", retention_days=30)
    artifact = store.put(b"governed")
    key = store.key_for(artifact.sha256)
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    version = head["VersionId"]

    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert error_code(denied) == "AccessDenied"
    client.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert not store.exists(artifact.sha256)


def test_worm_options_on_a_bucket_without_object_lock_fail_clearly(seaweedfs: SeaweedS3) -> None:
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket()
    store = S3ArtifactStore(client, bucket, retention_mode="COMPLIANCE", retention_days=1)
    with pytest.raises(StoreError, match="InvalidRequest") as excinfo:
        store.put(b"must be locked")
    assert not isinstance(excinfo.value, StoreUnavailable)
    assert not S3ArtifactStore(client, bucket).exists(hashlib.sha256(b"must be locked").hexdigest())

    # and ensure_bucket will not pretend an existing plain bucket is a WORM one
    assert ensure_bucket(client, bucket, object_lock=False) is False
    with pytest.raises(StoreError, match="without Object Lock"):
        ensure_bucket(client, bucket, object_lock=True)


def test_seaweedfs_filer_api_bypasses_object_lock(seaweedfs: SeaweedS3) -> None:
    """Deviation from AWS: SeaweedFS enforces Object Lock in its S3 gateway only. Its
    filer HTTP API (the ``-filer.port``) deletes a locked bucket, COMPLIANCE versions
    included. A SeaweedFS meant as WORM storage must not expose the filer, master or
    volume ports to anyone but itself; AWS S3 has no such side door."""
    client = seaweedfs.client()
    bucket = seaweedfs.new_bucket(object_lock=True)
    store = S3ArtifactStore(client, bucket, retention_mode="COMPLIANCE", retention_days=1)
    artifact = store.put(b"locked for a day")
    version = client.head_object(Bucket=bucket, Key=store.key_for(artifact.sha256))["VersionId"]

    request = urllib.request.Request(
        f"{seaweedfs.filer_url}/buckets/{bucket}?recursive=true", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status in (200, 202, 204)

    with pytest.raises(ClientError) as gone:
        client.get_object(Bucket=bucket, Key=store.key_for(artifact.sha256), VersionId=version)
    assert error_code(gone) in ("NoSuchBucket", "NoSuchKey", "NoSuchVersion")


# --- open_store against the server ----------------------------------------------------


def test_open_store_url_with_worm_options(s3_env: SeaweedS3) -> None:
    """Credentials come from the standard AWS env vars (the s3_env fixture)."""
    bucket = s3_env.new_bucket(object_lock=True)
    url = (
        f"s3://{bucket}/letters?endpoint_url={quote(s3_env.endpoint_url, safe='')}"
        f"&region={s3_env.region}&retention_mode=COMPLIANCE&retention_days=1"
        "&legal_hold=true&max_attempts=2&connect_timeout=2&read_timeout=5"
    )
    store = open_store(url)
    assert isinstance(store, S3ArtifactStore)
    artifact = store.put(LETTER, content_type="application/pdf", metadata=META)
    assert store.key_for(artifact.sha256).startswith("letters/sha256/")
    assert store.get(artifact.uri, artifact.sha256) == LETTER

    head = s3_env.client().head_object(Bucket=bucket, Key=store.key_for(artifact.sha256))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["Metadata"]["journey"] == "onboarding"


def test_wrong_credentials_are_a_store_error(s3_env: SeaweedS3, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    bucket = s3_env.new_bucket()
    store = open_store(f"s3://{bucket}?endpoint_url={quote(s3_env.endpoint_url, safe='')}")
    with pytest.raises(StoreError) as excinfo:
        store.put(b"x")
    assert not isinstance(excinfo.value, StoreUnavailable | ArtifactIntegrityError)


# --- unreachable, slow or failing S3 --------------------------------------------------


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are signed before they are sent: give the chain something to sign with."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")


def store_at(port: int, *, max_attempts: int, read_timeout: float = 1.0) -> S3ArtifactStore:
    client = make_client(
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        config=client_config(
            connect_timeout=1.0, read_timeout=read_timeout, max_attempts=max_attempts
        ),
    )
    return S3ArtifactStore(client, "missiva")


@pytest.mark.usefixtures("fake_credentials")
def test_closed_port_raises_store_unavailable_quickly() -> None:
    (port,) = free_ports(1)  # released: nothing listens there
    store = store_at(port, max_attempts=3)
    digest = hashlib.sha256(b"x").hexdigest()
    for call in (
        lambda: store.put(b"x"),
        lambda: store.get(store.uri_for(digest), digest),
        lambda: store.exists(digest),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            call()
        assert time.monotonic() - started < 10  # 3 refused attempts + jittered backoff


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts TCP connections and never answers (an S3 that hangs)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.usefixtures("fake_credentials")
def test_hanging_server_raises_store_unavailable_after_bounded_retries(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = silent_server
    store = store_at(port, max_attempts=2, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.exists(hashlib.sha256(b"x").hexdigest())
    assert time.monotonic() - started < 6  # 2 x 0.5 s read timeout + backoff
    assert len(accepted) == 2  # exactly max_attempts tries


@pytest.fixture
def failing_server() -> Iterator[tuple[int, list[str]]]:
    """Answers every request with 503 SlowDown (an overloaded S3)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _fail(self) -> None:
            seen.append(self.command)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = _fail

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.usefixtures("fake_credentials")
def test_failing_server_raises_store_unavailable_after_bounded_retries(
    failing_server: tuple[int, list[str]],
) -> None:
    port, seen = failing_server
    store = store_at(port, max_attempts=3)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="failing"):
        store.put(b"x")
    assert time.monotonic() - started < 10
    assert seen == ["PUT"] * 3  # the conditional upload, retried, then given up


def test_a_moved_archive_resolves_references_and_legacy_uris(s3_env: SeaweedS3) -> None:
    """The ledger's references name the content, not the bucket, prefix or endpoint:
    the objects copied to another bucket and prefix, reached through another endpoint
    host (localhost instead of 127.0.0.1), still verify, and so does an absolute
    ``s3://`` URI recorded before references were relative."""
    client = s3_env.client()
    old_bucket, new_bucket = s3_env.new_bucket(), s3_env.new_bucket()
    old = S3ArtifactStore(client, old_bucket, prefix="v1")
    artifact = old.put(LETTER, content_type="application/pdf")
    legacy = f"s3://{old_bucket}/{old.key_for(artifact.sha256)}"

    alias = s3_env.endpoint_url.replace("127.0.0.1", "localhost")
    moved_client = make_client(endpoint_url=alias, region=s3_env.region, config=client_config())
    moved = S3ArtifactStore(moved_client, new_bucket, prefix="archive/v2")
    moved_client.put_object(Bucket=new_bucket, Key=moved.key_for(artifact.sha256), Body=LETTER)
    assert moved.get(artifact.uri, artifact.sha256) == LETTER
    moved.verify(legacy, artifact.sha256)
    with pytest.raises(ArtifactIntegrityError, match="not the address"):
        moved.get(legacy.replace(artifact.sha256, "0" * 64), artifact.sha256)
