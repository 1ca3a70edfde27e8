"""The tasks of a journey DAG, the same for every journey:

extract → validate → release_policy, then either chunk.compose → chunk.deliver (a task
group mapped per chunk: a chunk is delivered as soon as it is composed) or, when the
run's release policy holds it, held.compose (every chunk) → held.release (a person
approves or rejects; :mod:`missiva.orchestration.release_gate`) → held.deliver; then
print_batches → report. print_batches runs once every chunk is done, even when one
failed; the report runs only when none did, so a failed delivery still fails the run. Call
:func:`journey_tasks` inside a ``@dag`` function, or :func:`request_task` for a
latency-first journey (the same stages in one task).

How many chunks of one run compose (deliver) at once is the Airflow option
``[missiva] compose_parallelism`` (``deliver_parallelism``), default 2, e.g.
``AIRFLOW__MISSIVA__COMPOSE_PARALLELISM=8``; read when the DAG file is parsed.
"""

import pendulum
from airflow.sdk import Param, TaskGroup, task, task_group
from airflow.sdk.configuration import conf

from missiva.journey import Journey
from missiva.orchestration import stages
from missiva.orchestration.assets import archive_asset
from missiva.orchestration.release_gate import ReleaseGate, hold_branch
from missiva.release import DEFAULT_THRESHOLD, HOLD_CONDITIONS

#: retries with exponential backoff for every journey task
DEFAULT_ARGS = {
    "owner": "customer-communications",
    "retries": 2,
    "retry_delay": pendulum.duration(seconds=30),
    "retry_exponential_backoff": True,
}


def chunk_size_param() -> Param:
    """How many records a mapped compose/deliver task handles."""
    return Param(500, type="integer", minimum=1, maximum=5000)


def release_params(when: tuple[str, ...] = (), threshold: int = DEFAULT_THRESHOLD) -> dict:
    """The params declaring when a run waits for release (:mod:`missiva.release`):
    ``when`` any of ``first_version``, ``over_threshold`` (more valid records than
    ``threshold``), ``always``; none: never."""
    return {
        "release_when": Param(
            list(when),
            type="array",
            items={"type": "string", "enum": list(HOLD_CONDITIONS)},
            uniqueItems=True,
            description="hold the run for release when: "
            + ", ".join(HOLD_CONDITIONS)
            + " (none: never)",
        ),
        "release_threshold": Param(
            threshold,
            type="integer",
            minimum=0,
            description="over_threshold holds a run of more valid records than this",
        ),
    }


def whole_value(pattern: str) -> str:
    """A Param ``pattern`` the whole value must match: ``^...$`` would accept a trailing
    newline (``$`` matches before one); ``(?![\\s\\S])`` is the end of the value in both
    Python's and the browser's regular expressions."""
    return f"^(?:{pattern})(?![\\s\\S])"


#: chunks of one run composed (delivered) at once unless ``[missiva]`` says otherwise
DEFAULT_PARALLELISM = 2


def stage_parallelism(stage: str) -> int:
    """How many chunks of one run the stage handles at once: ``[missiva]
    <stage>_parallelism`` in Airflow's configuration, else :data:`DEFAULT_PARALLELISM`."""
    return conf.getint("missiva", f"{stage}_parallelism", fallback=DEFAULT_PARALLELISM)


def journey_tasks(journey: Journey) -> None:
    """Add the journey's tasks to the DAG being defined."""

    @task
    def extract() -> int:
        return stages.extract(journey)

    @task
    def validate(extracted: int) -> list[int]:
        return stages.validate(journey)

    @task(
        max_active_tis_per_dagrun=stage_parallelism("compose"),
        outlets=[archive_asset(journey)],
    )
    def compose(number: int) -> int:
        return stages.compose(journey, number)

    @task(max_active_tis_per_dagrun=stage_parallelism("deliver"))
    def deliver(number: int) -> dict:
        return stages.deliver(journey, number)

    @task_group
    def chunk(number: int) -> None:
        """One chunk of valid records: composed, then delivered at once."""
        deliver(compose(number))

    @task.branch
    def release_policy(chunks: list[int]) -> str:
        """Pipelined delivery, or every chunk held for release (the run's params)."""
        return hold_branch(journey, chunks, pipelined="chunk.compose", held="held.compose")

    # the letters that went out are batched whatever else failed (a channel held until
    # the deliver task ran out of retries must not keep the day's letters from print)
    @task(trigger_rule="all_done")
    def print_batches() -> list[dict]:
        return stages.print_batches(journey)

    # a day without valid records maps no chunk (skipped): still report; a failed
    # upstream leaves the report upstream_failed, so the run fails
    @task(trigger_rule="none_failed")
    def report(batches: list[dict]) -> dict:
        return stages.report()

    chunks = validate(extract())
    policy = release_policy(chunks)
    pipelined = chunk.expand(number=chunks)
    policy >> pipelined
    with TaskGroup("held", tooltip="every chunk composed, then released by a person"):
        gate = ReleaseGate(
            task_id="release", journey=journey, policy_task_id=policy.operator.task_id
        )
        held_compose = compose.override(task_id="compose").expand(number=chunks)
        held_deliver = deliver.override(task_id="deliver").expand(number=chunks)
        policy >> held_compose >> gate >> held_deliver
    # one of the two branches is skipped; a rejected run delivers nothing
    delivered = [pipelined, held_deliver]
    delivered >> (batches := print_batches())
    delivered >> report(batches)


def request_task(journey: Journey) -> None:
    """Add one task running every stage of the run (an on-demand request: one record,
    delivered seconds after the trigger, without six task start-ups)."""

    @task(outlets=[archive_asset(journey)])
    def handle_request() -> dict:
        return stages.whole_run(journey)

    handle_request()
