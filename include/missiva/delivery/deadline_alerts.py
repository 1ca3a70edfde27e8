"""Missed delivery deadlines: what a journey run had not sent when its deadline passed.

Each miss is appended, as one JSON line, to ``<MISSIVA_HOME>/alerts/deadlines.jsonl``
(the file an on-call rota or a log shipper watches) and logged as an error. With an S3
archive the file is the object ``<prefix>/work/alerts/deadlines.jsonl`` of its bucket
instead (:mod:`missiva.records.workspace`; appended under the workspace's lock), so
the alerts do not depend on which machine's disk the callback ran on.
"""

import json
import logging
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from missiva.journey import Journey
from missiva.records.keys import business_key
from missiva.records.ledger import Ledger
from missiva.records.status import IN_FLIGHT
from missiva.run_context import RunContext
from missiva.settings import Settings

if TYPE_CHECKING:
    from missiva.records.store import ArtifactStore

log = logging.getLogger(__name__)
ALERTS_KEY = "deadlines.jsonl"


def alerts_file(settings: Settings) -> Path:
    return settings.home / "alerts" / ALERTS_KEY


def record_missed_deadline(
    journey: Journey,
    run: RunContext,
    deadline: datetime | str,
    settings: Settings,
    store: "ArtifactStore | None" = None,
) -> dict[str, Any]:
    """Record that ``run`` of ``journey`` missed ``deadline``, with the state of its
    communications in the ledger (none at all: the run never got to compose)."""
    with Ledger(settings.ledger_url) as ledger:
        statuses = Counter(
            c.status for c in ledger.for_scope(journey.name, business_key(journey, run))
        )
    alert = {
        "alert": "deadline_missed",
        "journey": journey.name,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "interval_start": run.interval_start.isoformat(),
        "interval_end": run.interval_end.isoformat(),
        "deadline": deadline.isoformat() if isinstance(deadline, datetime) else str(deadline),
        "not_out": sum(statuses[s] for s in IN_FLIGHT),
        "statuses": dict(sorted(statuses.items())),
    }
    line = json.dumps(alert, sort_keys=True) + "\n"
    shared = getattr(store, "workspace", None)
    if shared is not None:
        space = shared("alerts")
        with space.lock(ALERTS_KEY):
            try:
                before = space.get(ALERTS_KEY)
            except FileNotFoundError:
                before = b""
            space.put(ALERTS_KEY, before + line.encode())
    else:
        path = alerts_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line)
    log.error(
        "%s run %s missed its deadline %s: %d communications not out (%s)",
        journey.name,
        run.run_id,
        alert["deadline"],
        alert["not_out"],
        alert["statuses"] or "nothing in the ledger",
    )
    return alert
