"""The artifact store on S3 (or any S3-compatible server), through a boto3 client.

Keys are ``[<prefix>/]sha256/<ab>/<hex>``; each object carries its content type, the
caller's metadata and ``x-amz-meta-sha256``, and is uploaded with ``ChecksumSHA256`` so
the server itself refuses bytes that do not match the digest.

Optional WORM: with ``retention_mode`` (``COMPLIANCE`` or ``GOVERNANCE``) and
``retention_days`` every put sets an Object Lock retention on the new version, and with
``legal_hold`` a legal hold; the bucket must have been created with Object Lock
(:func:`ensure_bucket`).

No Airflow here: the orchestration layer builds the client (e.g. from an Airflow
Connection through the Amazon provider) and passes it in; :func:`client_config` gives
the retry and timeout settings to build it with.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from missiva.records.artifacts import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactInfo,
    ArtifactIntegrityError,
    StoreError,
    check_content_type,
    check_metadata,
    object_key,
    reference,
    require_sha256,
    resolve,
    sha256_hex,
)
from missiva.records.s3_errors import MISSING_CODES, TAKEN_CODES, error_code, translated

if TYPE_CHECKING:
    from missiva.records.workspace import S3Workspace

log = logging.getLogger(__name__)

S3Client = Any  # a boto3 ``S3.Client``; no stubs are installed

DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 20.0
DEFAULT_MAX_ATTEMPTS = 3
RETENTION_MODES = ("COMPLIANCE", "GOVERNANCE")
#: days a working object's overwritten or deleted version is kept (:func:`expire_work_versions`)
WORK_VERSION_DAYS = 1
#: days a run's staging (customer records) stays when no report deleted it (a failed run)
STAGING_DAYS = 7

_CHUNK = 1024 * 1024
_ADDRESSING_STYLES = (None, "path", "virtual", "auto")


def client_config(
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    addressing_style: str | None = None,
) -> Config:
    """botocore settings bounding how long a call may take before it fails.

    ``standard`` retry mode, ``max_attempts`` attempts in all (first try included),
    exponential backoff with jitter between them (under 1 s, 2 s, 4 s...). A call
    gives up after at most about ``max_attempts * (connect_timeout + read_timeout)``
    plus the backoff; a refused connection fails in well under a second per attempt.
    """
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ValueError("timeouts must be positive")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    _check_addressing_style(addressing_style)
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        s3={"addressing_style": addressing_style} if addressing_style else None,
    )


def _check_addressing_style(style: str | None) -> None:
    if style not in _ADDRESSING_STYLES:
        raise ValueError(f"addressing_style must be path, virtual or auto: {style}")


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str | None = None,
    config: Config | None = None,
    session: boto3.session.Session | None = None,
) -> S3Client:
    """A boto3 S3 client, credentials from the standard chain (env vars, files, role).

    With an ``endpoint_url`` (an S3-compatible server) path-style addressing is the
    default, since such servers rarely resolve ``<bucket>.<host>``.
    """
    config = addressed(config or client_config(), endpoint_url, addressing_style)
    return (session or boto3.session.Session()).client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


def addressed(
    config: Config, endpoint_url: str | None, addressing_style: str | None = None
) -> Config:
    """``config`` with its addressing style: ``addressing_style`` if given, else the one
    it has, else path-style for an ``endpoint_url`` (an S3-compatible server)."""
    _check_addressing_style(addressing_style)
    configured = (config.s3 or {}).get("addressing_style")
    style = addressing_style or configured or ("path" if endpoint_url else None)
    if style and style != configured:
        config = config.merge(Config(s3={**(config.s3 or {}), "addressing_style": style}))
    return config


def ensure_bucket(
    client: S3Client, bucket: str, object_lock: bool = False, work_prefix: str = "work/"
) -> bool:
    """Create ``bucket`` (with Object Lock, hence versioning, when asked); True if created.

    A bucket created with Object Lock also gets the lifecycle rule of
    :func:`expire_work_versions` for ``work_prefix``. An existing bucket we can reach is
    accepted, unless Object Lock is asked for and the bucket lacks it: Object Lock is
    enabled at creation, and never assumed (a server that ignored the request is caught
    here too).
    """
    created = False
    if not _bucket_exists(client, bucket):
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        region = client.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with translated(f"s3://{bucket}"):
                client.create_bucket(**kwargs)
            created = True
            log.info("created bucket %s (object lock: %s)", bucket, object_lock)
        except StoreError as exc:  # created meanwhile, by us or by someone else
            if error_code(exc.__cause__) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            if not _bucket_exists(client, bucket):
                raise
    if object_lock and not bucket_has_object_lock(client, bucket):
        raise StoreError(
            f"bucket {bucket} exists without Object Lock; WORM needs a bucket created with it"
        )
    if created and object_lock:
        expire_work_versions(client, bucket, work_prefix)
    return created


def expire_work_versions(
    client: S3Client, bucket: str, prefix: str = "work/", days: int = WORK_VERSION_DAYS
) -> bool:
    """Set the bucket's lifecycle rule for the working objects under ``prefix`` (staging,
    print, portal: overwritten and deleted as runs go, so a versioned bucket keeps their
    old bytes as noncurrent versions): those versions expire ``days`` after they stop
    being current, and the delete markers left alone go too. Replaces the bucket's
    lifecycle configuration. A second rule expires the staging of a run that no report
    deleted (a failed run) :data:`STAGING_DAYS` after it was written. False, with a
    warning, when the server has no lifecycle rules: then only the explicit deletes
    (``S3Workspace.clear``) remove them.
    """
    rule = {
        "ID": "missiva-work-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "NoncurrentVersionExpiration": {"NoncurrentDays": days},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }
    staging = {"ID": "missiva-staging-expiry", "Status": "Enabled"}
    staging |= {"Filter": {"Prefix": f"{prefix}staging/"}, "Expiration": {"Days": STAGING_DAYS}}
    try:
        with translated(f"s3://{bucket}"):
            client.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [rule, staging]}
            )
    except StoreError as exc:
        if error_code(exc.__cause__) not in ("NotImplemented", "MalformedXML", "InvalidRequest"):
            raise
        log.warning("s3://%s has no lifecycle rules (%s): old work/ versions stay", bucket, exc)
        return False
    log.info("s3://%s: noncurrent versions under %s expire after %d day(s)", bucket, prefix, days)
    return True


def _bucket_exists(client: S3Client, bucket: str) -> bool:
    try:
        with translated(f"s3://{bucket}"):
            client.head_bucket(Bucket=bucket)
    except StoreError as exc:
        if error_code(exc.__cause__) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def bucket_has_object_lock(client: S3Client, bucket: str) -> bool:
    try:
        with translated(f"s3://{bucket}"):
            answer = client.get_object_lock_configuration(Bucket=bucket)
    except StoreError as exc:
        if error_code(exc.__cause__) == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


class _Missing(ArtifactIntegrityError):
    """Nothing at the address (as opposed to something else there)."""


class S3ArtifactStore:
    """Immutable objects addressed by their SHA-256 in one bucket (under ``prefix``)."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        retention_mode: str | None = None,
        retention_days: int | None = None,
        legal_hold: bool = False,
    ) -> None:
        if not bucket:
            raise ValueError("bucket is required")
        if retention_mode is not None:
            retention_mode = retention_mode.upper()
            if retention_mode not in RETENTION_MODES:
                raise ValueError(f"retention_mode must be one of {RETENTION_MODES}")
        if (retention_mode is None) != (retention_days is None):
            raise ValueError("retention_mode and retention_days go together")
        if retention_days is not None and retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retention_mode = retention_mode
        self.retention_days = retention_days
        self.legal_hold = legal_hold

    def __repr__(self) -> str:
        worm = (
            f", retention={self.retention_mode}/{self.retention_days}d"
            if self.retention_mode
            else ""
        )
        hold = ", legal_hold" if self.legal_hold else ""
        return f"S3ArtifactStore({self.location!r}{worm}{hold})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key_for(self, sha256: str) -> str:
        key = object_key(sha256)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, sha256: str) -> str:
        return reference(require_sha256(sha256))

    def create_bucket(self) -> bool:
        """Create the bucket with Object Lock, and the lifecycle rule of this store's
        ``work/`` objects, unless it exists (with Object Lock); True if created."""
        work = "/".join(filter(None, [self.prefix, "work"])) + "/"
        return ensure_bucket(self.client, self.bucket, object_lock=True, work_prefix=work)

    def workspace(self, area: str) -> S3Workspace:
        """Mutable working data (staging, print, portal) under ``<prefix>/work/<area>/``
        of the same bucket, written without retention (:mod:`missiva.records.workspace`)."""
        from missiva.records.workspace import S3Workspace

        return S3Workspace(
            self.client, self.bucket, "/".join(filter(None, [self.prefix, "work", area]))
        )

    # --- writing ---------------------------------------------------------------

    def put(
        self,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> Artifact:
        """Upload ``data`` unless its address already holds it; never overwrite.

        The upload is conditional (``If-None-Match: *``, one round trip). When the address
        is taken, the object there is read back and re-hashed: if it no longer matches (it
        was altered) that is an :class:`ArtifactIntegrityError`, not something to paper
        over. Only a second put of the same bytes pays that read.
        """
        check_content_type(content_type)
        extra = check_metadata(metadata)
        digest = sha256_hex(data)
        key = self.key_for(digest)
        uri = f"s3://{self.bucket}/{key}"
        artifact = Artifact(uri=reference(digest), sha256=digest, size=len(data))
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "Metadata": {**extra, "sha256": digest},
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(digest)).decode("ascii"),
            "IfNoneMatch": "*",
        }
        request.update(self.lock_parameters())
        try:
            with translated(uri):
                client_answer = self.client.put_object(**request)
        except StoreError as exc:
            if error_code(exc.__cause__) not in TAKEN_CODES:
                raise
            try:
                self._fetch(artifact.uri, digest, keep=False)
            except ArtifactIntegrityError as altered:
                raise ArtifactIntegrityError(
                    f"{uri} already exists but does not match its sha256; refusing to overwrite it"
                ) from altered
            log.debug("%s already archived", uri)
            return artifact
        log.debug("archived %s (version %s)", uri, client_answer.get("VersionId"))
        return artifact

    def lock_parameters(self) -> dict[str, Any]:
        """The Object Lock parameters of a ``PutObject`` under this store's retention."""
        request: dict[str, Any] = {}
        if self.retention_mode:
            assert self.retention_days is not None
            request["ObjectLockMode"] = self.retention_mode
            request["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.retention_days
            )
        if self.legal_hold:
            request["ObjectLockLegalHoldStatus"] = "ON"
        return request

    # --- reading ---------------------------------------------------------------

    def _head(self, key: str, uri: str) -> dict[str, Any] | None:
        try:
            with translated(uri):
                return self.client.head_object(Bucket=self.bucket, Key=key)
        except StoreError as exc:
            if error_code(exc.__cause__) in MISSING_CODES:
                return None
            raise

    def _fetch(self, recorded: str, sha256: str, *, keep: bool) -> bytes:
        resolve(recorded, sha256)
        key = self.key_for(sha256)
        uri = f"s3://{self.bucket}/{key}"
        hasher = hashlib.sha256()
        parts: list[bytes] = []
        try:
            with translated(uri):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                try:
                    for chunk in body.iter_chunks(_CHUNK):
                        hasher.update(chunk)
                        if keep:
                            parts.append(chunk)
                finally:
                    body.close()
        except StoreError as exc:
            if error_code(exc.__cause__) in MISSING_CODES:
                raise _Missing(f"archived object {uri} is missing") from exc
            raise
        if hasher.hexdigest() != sha256:
            raise ArtifactIntegrityError(f"archived object {uri} does not match its sha256")
        return b"".join(parts)

    def get(self, uri: str, sha256: str) -> bytes:
        """Read an object back, refusing it unless it still hashes to ``sha256``."""
        return self._fetch(uri, sha256, keep=True)

    def verify(self, uri: str, sha256: str) -> None:
        """Re-hash the stored bytes (streamed, not kept)."""
        self._fetch(uri, sha256, keep=False)

    def exists(self, sha256: str) -> bool:
        key = self.key_for(require_sha256(sha256))
        return self._head(key, f"s3://{self.bucket}/{key}") is not None

    def info(self, sha256: str) -> ArtifactInfo:
        key = self.key_for(require_sha256(sha256))
        uri = f"s3://{self.bucket}/{key}"
        head = self._head(key, uri)
        if head is None:
            raise ArtifactIntegrityError(f"archived object {uri} is missing")
        metadata = {k: v for k, v in head.get("Metadata", {}).items() if k != "sha256"}
        return ArtifactInfo(
            uri=reference(sha256),
            sha256=sha256,
            size=head["ContentLength"],
            content_type=head.get("ContentType", DEFAULT_CONTENT_TYPE),
            metadata=metadata,
        )
