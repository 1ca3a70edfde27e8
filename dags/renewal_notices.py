"""
### Renewal notices: before a policy expires

Every day, each active policy whose end date falls N days after the data interval's day,
for every N of the `renewal_windows` param (default 60, 30 and 7 days), gets a renewal
notice: the renewal premium broken down (net premium, taxes, fees, total, in the policy's
currency), the changes to its cover and the renewal disclosures (locked regulatory block
`renewal_disclosure`). Each notice goes out once per policy and window (subject key
`<policy_id>/<N>d`) and none once the policy is renewed (status `renewed` or a renewal
record dated before the interval ends). The window of N days notices the end dates
`[interval start + N days, interval end + N days)`: a policy is noticed by exactly one
daily run per window. Channel: the customer's preference (e-mail with the notice as PDF,
SMS, or paper), else paper, else e-mail, else SMS.

1. **extract** — `include/sql/renewal_notices_extract.sql`, once per window, on the
   `missiva_core` connection (tables `policies`, `policy_renewals`, `customers`, `consents`).
2. **validate** — `include/expectations/renewal_notices.json`: batch failures stop the run
   before anything is sent; failing records are quarantined.
3. **chunk.compose** → **chunk.deliver** (mapped per chunk) — route, render, archive; SMTP
   (`smtp_default`), SMS (`missiva_sms`) or the print folder; never twice.
4. **print_batches** — the day's paper notices as print-ready batches with a manifest.
5. **report** — every notice is accounted for: sent, suppressed or quarantined.

Demo: `airflow dags test renewal_notices 2026-11-03` (interval 2026-11-02: policies ending
on 2027-01-01, 2026-12-02 and 2026-11-09). Other windows:
`airflow dags test renewal_notices 2026-11-03 -c '{"renewal_windows": [45, 15]}'`.
"""

import pendulum
from airflow.sdk import Param, dag

from missiva.journeys.renewal_notices import RENEWAL_NOTICES, RENEWAL_WINDOWS
from missiva.orchestration import schedules
from missiva.orchestration.journey_tasks import (
    DEFAULT_ARGS,
    chunk_size_param,
    journey_tasks,
    release_params,
)


@dag(
    dag_id="renewal_notices",
    description=(
        "Renewal notice with the premium breakdown 60, 30 and 7 days before "
        "each active policy ends."
    ),
    schedule=schedules.daily(),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "chunk_size": chunk_size_param(),
        **release_params(),
        "renewal_windows": Param(
            list(RENEWAL_WINDOWS),
            type="array",
            items={"type": "integer", "minimum": 1, "maximum": 366},
            minItems=1,
            uniqueItems=True,
            description="days before a policy's end date at which a notice goes out",
        ),
    },
    tags=["journey", "renewal", "transactional"],
    doc_md=__doc__,
)
def renewal_notices() -> None:
    journey_tasks(RENEWAL_NOTICES)


renewal_notices()
