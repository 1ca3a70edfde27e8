"""
### On-demand document: one document for one customer, within seconds of the request

Triggered through Airflow's REST API (no schedule), e.g. by the contact centre:

```
POST /api/v2/dags/on_demand_document/dagRuns
{"logical_date": null,
 "conf": {"customer_id": "C000021", "document_type": "policy_certificate", "channel": "email"}}
```

- `customer_id` — `C` and six digits;
- `document_type` — `policy_certificate` (of `policy_id`, else the customer's first policy)
  or `duplicate_welcome` (the welcome letter again);
- `channel` — `preferred` (the customer's preference, then e-mail, then paper) or one of
  `email`, `paper`, `sms`, `portal`: the requested channel overrides the preference but
  **not consent**: without the customer's consent for it (or valid contact data) nothing
  is sent and the run reports the communication suppressed, with the reason.

One task, `handle_request`, runs every stage of the journey (extract, validate, compose,
deliver, report) in one process: the document goes out seconds after the trigger instead
of after six task start-ups. A validation failure fails it at once, without retries.

Airflow validates the params against their JSON schema when the run is triggered: a bad
request is answered `400` and no run is created. An unknown customer, a policy that is not
the customer's, or duplicate source records fail `validate` before anything is sent.
Each run sends its document once (retries and re-runs of the same run send nothing new);
a new request is a new run and a new document, unless it repeats the `request_id` (the
caller's idempotency key) of an earlier one: then nothing new is sent.
"""

import pendulum
from airflow.sdk import Param, dag

from missiva.journeys.on_demand_document import (
    DOCUMENT_TYPES,
    ON_DEMAND_DOCUMENT,
    REQUESTABLE_CHANNELS,
)
from missiva.orchestration.journey_tasks import (
    DEFAULT_ARGS,
    chunk_size_param,
    request_task,
    whole_value,
)


@dag(
    dag_id="on_demand_document",
    description=(
        "One document for one customer on request (REST API): a policy "
        "certificate or a duplicate welcome letter."
    ),
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    params={
        "customer_id": Param(
            type="string",
            pattern=whole_value("C[0-9]{6}"),
            description="the customer, e.g. C000021",
        ),
        "document_type": Param(type="string", enum=list(DOCUMENT_TYPES)),
        "channel": Param("preferred", type="string", enum=list(REQUESTABLE_CHANNELS)),
        "policy_id": Param(
            None,
            type=["null", "string"],
            pattern=whole_value("[A-Z][0-9]{7}"),
            description="the policy of a certificate (default: the customer's first policy)",
        ),
        "request_id": Param(
            None,
            type=["null", "string"],
            pattern=whole_value("[A-Za-z0-9._:-]{1,64}"),
            description="the caller's idempotency key: the same id again sends nothing new",
        ),
        "chunk_size": chunk_size_param(),
    },
    tags=["journey", "on-demand", "transactional"],
    doc_md=__doc__,
)
def on_demand_document() -> None:
    request_task(ON_DEMAND_DOCUMENT)


on_demand_document()
