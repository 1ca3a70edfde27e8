"""
### Claims letters: every claim event answered once

Every day, each claim event the claims system recorded during the data interval
(`claim_events.occurred_at` in [start, end) UTC) gets its letter, exactly once whichever
run finds it (the event is the idempotency subject):

| event | letter | channel |
|---|---|---|
| `acknowledgement` | `claim_acknowledgement` | preferred (e-mail, SMS), else e-mail, SMS, paper |
| `documents_request` | `claim_documents_request` | preferred, else e-mail, SMS, paper |
| `decision` | `claim_decision` | **paper** (legally required) + portal copy and notice |

Two events for one claim in one day give two letters.

**Why daily, not hourly:** the decision letter is paper, and letters leave in the print
provider's daily batch (`print_batches`); answering within a day is what the claims
handling rules require, and one run a day keeps one print folder per day. The deadline
alert below watches that promise.

**Deadline alert:** when a run has not finished (its letters not all out)
`LETTERS_DUE_AFTER` after its data interval's end, the triggerer runs
`missiva.orchestration.deadlines.letters_overdue`: it logs an error and appends the run
and the state of its letters to `<MISSIVA_HOME>/alerts/deadlines.jsonl`.

Tasks: extract (`include/sql/claims_letters_extract.sql`) → validate
(`include/expectations/claims_letters.json`) → chunk.compose → chunk.deliver (mapped
per chunk) → print_batches → report. Audit: `missiva audit list --journey claims_letters --json`.
"""

import pendulum
from airflow.sdk import dag

from missiva.journeys.claims_letters import CLAIMS_LETTERS
from missiva.orchestration import schedules
from missiva.orchestration.deadlines import letters_deadline
from missiva.orchestration.journey_tasks import (
    DEFAULT_ARGS,
    chunk_size_param,
    journey_tasks,
    release_params,
)

#: how long after the end of the events' interval every letter must be out
LETTERS_DUE_AFTER = pendulum.duration(hours=6)


@dag(
    dag_id="claims_letters",
    description=(
        "Claim acknowledgements, document requests and decisions for the day's "
        "claim events (decisions also in the portal)."
    ),
    schedule=schedules.daily(),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"chunk_size": chunk_size_param(), **release_params()},
    deadline=letters_deadline(
        CLAIMS_LETTERS, period=pendulum.duration(days=1), due_after=LETTERS_DUE_AFTER
    ),
    tags=["journey", "claims", "transactional"],
    doc_md=__doc__,
)
def claims_letters() -> None:
    journey_tasks(CLAIMS_LETTERS)


claims_letters()
