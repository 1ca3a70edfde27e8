"""The cluster (:mod:`missiva.devtools.cluster`) for the cluster tests: Airflow with the
CeleryExecutor and two workers, Postgres, Redis, SeaweedFS, the SMTP and SMS sinks.

Without Postgres or Redis the tests are skipped with the reason, except under
``CI=true`` where that is a failure (CI must not go green by skipping).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import require_cluster_services

from missiva.devtools.cluster import NO_QUIET_HOURS, Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_cluster_services()
    root = tmp_path_factory.mktemp("cluster")
    with running_cluster(root, contact_policy=NO_QUIET_HOURS, log=print) as running:
        print(running.describe())
        yield running
