"""The record a preview renders: a demo customer, or the communication's sample data."""

from datetime import UTC, date, datetime, time
from typing import Any

from missiva.composition import sample_record
from missiva.journeys import JOURNEYS
from missiva.paths import TEMPLATES_DIR
from missiva.settings import Settings
from missiva.sources.extract import extract_records

#: Without --since/--until a customer preview looks at the whole history.
EARLIEST, LATEST = date(1970, 1, 1), date(9999, 1, 1)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def preview_record(
    communication: str,
    customer_id: str | None,
    language: str | None,
    settings: Settings,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """The customer's record from the demo core systems, as the journey extracts it for
    the data interval [since, until) (details such as statement lines included), else
    the communication's sample."""
    if customer_id is None:
        record = sample_record(TEMPLATES_DIR, communication, language)
    else:
        record = _customer_record(communication, customer_id, settings, since, until)
    today = datetime.now(UTC).date()
    return {"communication_id": "preview", "letter_date": today, **record}


def _customer_record(
    communication: str,
    customer_id: str,
    settings: Settings,
    since: date | None,
    until: date | None,
) -> dict[str, Any]:
    # the journey whose main communication it is, else one that also sends it
    senders = [j for j in JOURNEYS if communication in j.communications]
    if not senders:
        raise ValueError(f"no journey sends {communication!r}")
    journey = min(senders, key=lambda j: j.communication != communication)
    start, end = since or EARLIEST, until or LATEST
    params = {**journey.preview_params, "customer_id": customer_id}
    _, records = extract_records(
        f"sqlite:///{settings.core_db}", journey, _utc(start), _utc(end), params
    )
    rows = [
        r
        for r in records
        if r["customer_id"] == customer_id and journey.requested(r) == communication
    ]
    if not rows:
        raise ValueError(
            f"no {communication} for customer {customer_id!r} in {settings.core_db} "
            f"for the data interval [{start}, {end}) of journey {journey.name!r}"
            + ("" if since else "; give the run's interval with --since/--until")
        )
    return rows[-1]  # the latest the extract found
