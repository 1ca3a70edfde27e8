"""The throwaway SeaweedFS holds only what its volumes allow: a test server's few small
volumes fill up (S3 then answers InternalError), while the cluster's archive
(``ARCHIVE_VOLUMES``: as many volumes as the disk holds) takes a benchmark's gigabytes."""

from __future__ import annotations

import pytest
from seaweedfs_server import running_seaweedfs

from missiva.devtools.cluster_services import ARCHIVE_VOLUMES

BLOB = b"x" * 600_000


def _fill(server, objects: int) -> None:
    client = server.client()
    client.create_bucket(Bucket="fill")
    for n in range(objects):
        client.put_object(Bucket="fill", Key=f"o{n}", Body=BLOB)


def test_few_small_volumes_fill_up(weed, tmp_path):
    with (
        running_seaweedfs(weed, tmp_path, volume_mb=1, volumes=2) as server,
        pytest.raises(Exception, match="InternalError"),
    ):
        _fill(server, 12)  # 7 MB into 2 volumes of 1 MB


def test_the_cluster_archive_grows_with_the_disk(weed, tmp_path):
    assert ARCHIVE_VOLUMES["volumes"] == 0  # as many as the free disk holds
    with running_seaweedfs(weed, tmp_path, volume_mb=1, volumes=0) as server:
        _fill(server, 12)
