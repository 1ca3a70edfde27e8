"""botocore's exceptions as the artifact store's: one translation for the archive, the
shared workspace and the anchors on S3."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from missiva.records.artifacts import StoreError, StoreUnavailable

UNAVAILABLE_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})
#: error codes of an object (or version) that is not there
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})
#: error codes of a conditional write (``If-None-Match: *``) that found an object there
TAKEN_CODES = frozenset({"PreconditionFailed", "412"})


def error_code(exc: BaseException | None) -> str | None:
    """The S3 error code of a ``ClientError`` (``None`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn botocore's exceptions (raised after its retries) into the store's."""
    try:
        yield
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StoreUnavailable(f"S3 unreachable for {what}: {exc}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise StoreError(f"no usable AWS credentials for {what}: {exc}") from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500 or error_code(exc) in UNAVAILABLE_CODES:
            raise StoreUnavailable(f"S3 failing for {what}: {exc}") from exc
        raise StoreError(f"S3 refused {what}: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreError(f"S3 client error for {what}: {exc}") from exc
