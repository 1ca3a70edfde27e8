"""Rendering alone, of a sample of one journey run's own communications.

For ``missiva bench journey``: the CPU time of composing (Jinja, CSS inlining, PDF, the
e-mail MIME) a random sample of the communications a run rendered, from their archived
input records, in this one process, without archive writes, ledger, delivery or Airflow.
The inputs are read before the clock starts, and each kind of communication (its
communication and channel) is rendered once untimed first, so the figure is the steady
rendering cost, the one a long-running composer would pay. Run as
``python -m missiva.devtools.bench_render_sample LEDGER_URL DAG_ID RUN_ID SAMPLE`` (with
the run's ``MISSIVA_ARCHIVE_URL`` and credentials); it prints JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from typing import Any

from missiva.records.ledger import Ledger
from missiva.records.models import Communication


def rendered_in_run(ledger: Ledger, dag_id: str, run_id: str) -> list[Communication]:
    """The run's communications that have an artifact (each was rendered by the run)."""
    run = ledger.get_run(dag_id, run_id)
    if run is None:
        raise LookupError(f"run {run_id!r} of {dag_id!r} is not in the ledger")
    return [
        c
        for c in ledger.for_scope(run.journey, run.business_key)
        if c.run_id == run_id and c.artifact_uri
    ]


def render_sample(ledger_url: str, dag_id: str, run_id: str, sample: int) -> dict[str, Any]:
    """Render up to ``sample`` of the run's rendered communications again; CPU seconds."""
    from missiva.flow import Composition
    from missiva.journeys import JOURNEYS
    from missiva.privacy.sealing import sealed
    from missiva.records.store import open_store
    from missiva.routing.rules import Route
    from missiva.run_context import RunContext
    from missiva.settings import Settings

    settings = Settings.from_env()
    with Ledger(ledger_url) as ledger:
        store = sealed(open_store(settings.archive_url), ledger)
        run = ledger.get_run(dag_id, run_id)
        rendered = rendered_in_run(ledger, dag_id, run_id)
        picked = random.Random(0).sample(  # noqa: S311 - a reproducible sample, not a secret
            rendered, min(sample, len(rendered))
        )
        inputs = [(c, json.loads(store.get(c.input_uri, c.data_sha256))) for c in picked]
    journey = next(j for j in JOURNEYS if j.name == run.journey)
    context = RunContext(dag_id, run_id, "bench", 1, run.interval_start, run.interval_end)
    composition = Composition(journey, context, settings, store)

    def render(comm: Communication, record: dict[str, Any]) -> None:
        route = Route(comm.channel, comm.recipient, comm.route_reason or "")
        composition.artifact(record, comm.communication_id, route)

    warmed: set[tuple[str, str | None]] = set()
    for comm, record in inputs:
        if (comm.communication, comm.channel) not in warmed:
            warmed.add((comm.communication, comm.channel))
            render(comm, record)
    start = time.process_time()
    for comm, record in inputs:
        render(comm, record)
    cpu = time.process_time() - start
    return {
        "rendered_in_run": len(rendered),
        "sample": len(inputs),
        "sample_by_channel": dict(Counter(str(c.channel) for c, _ in inputs)),
        "cpu_s": round(cpu, 4),
        "cpu_s_per_communication": round(cpu / len(inputs), 5) if inputs else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ledger_url, dag_id, run_id, sample = sys.argv[1:] if argv is None else argv
    print(json.dumps(render_sample(ledger_url, dag_id, run_id, int(sample))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
