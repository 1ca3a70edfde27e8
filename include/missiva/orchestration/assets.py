"""Airflow Assets for Missiva's outputs, so downstream DAGs can be scheduled on them."""

from airflow.sdk import Asset

from missiva.journey import Journey


def archive_asset(journey: Journey) -> Asset:
    """The journey's archived artifacts and ledger rows (updated by its compose task)."""
    return Asset(
        name=f"{journey.name}_archive",
        uri=f"missiva://archive/{journey.name}",
        group="missiva",
    )
