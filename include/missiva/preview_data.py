"""The record a preview renders: a demo customer, or the communication's sample data."""

from datetime import UTC, datetime
from typing import Any

from missiva.composition import sample_record
from missiva.extract import extract_journey
from missiva.journeys import JOURNEYS
from missiva.paths import TEMPLATES_DIR
from missiva.settings import Settings


def preview_record(
    communication: str, customer_id: str | None, language: str | None, settings: Settings
) -> dict[str, Any]:
    """The customer's current record from the demo core systems, else the sample."""
    if customer_id is None:
        record = sample_record(TEMPLATES_DIR, communication, language)
    else:
        # the journey whose main communication it is, else one that also sends it
        senders = [j for j in JOURNEYS if communication in j.communications]
        journey = min(senders, key=lambda j: j.communication != communication)
        frame = extract_journey(
            f"sqlite:///{settings.core_db}",
            journey,
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(9999, 1, 1, tzinfo=UTC),
        )
        rows = [
            r
            for r in frame[frame["customer_id"] == customer_id].to_dict(orient="records")
            if journey.requested(r) == communication
        ]
        if not rows:
            raise ValueError(
                f"no {communication} for customer {customer_id!r} in {settings.core_db}"
            )
        record = rows[0]
    today = datetime.now(UTC).date()
    return {"communication_id": "preview", "letter_date": today, **record}
