"""``python -m missiva.orchestration.archive_bucket``: create the bucket of the
``missiva_archive`` Connection with Object Lock, and the lifecycle rule that expires its
``work/`` objects' old versions, unless it exists; for a stack's init step
(docker-compose.yaml's ``airflow-init``)."""

import sys

from missiva.orchestration.connections import artifact_store
from missiva.records.store_s3 import S3ArtifactStore
from missiva.settings import Settings


def main() -> int:
    store = artifact_store(Settings.from_env())
    if not isinstance(store, S3ArtifactStore):
        print(f"the archive is not on S3 ({store!r}): no bucket to create")
        return 0
    created = store.create_bucket()
    print(f"{store.location}: {'created' if created else 'exists'}, with Object Lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
