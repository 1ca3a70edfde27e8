"""The release gate in a journey DAG: Airflow's Human-in-the-loop approval, fed by
:mod:`missiva.release`.

The gate waits in Airflow's ``awaiting_input`` state (Required Actions in the UI, the
``hitlDetails`` REST endpoint): the task holds no worker slot while it waits. Only the
users holding Missiva's release permission may respond: they are the HITL's assigned
users, ``[missiva] releasers`` (user ids, comma-separated) or, with Airflow's
SimpleAuthManager, its users whose role holds the permission
(:data:`missiva.orchestration.permissions.RELEASE`).
"""

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.configuration import conf
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowFailException

from missiva.journey import Journey
from missiva.orchestration import stages

#: the XCom (of the policy task) naming why the run is held
HOLD_REASONS = "hold_reasons"


def releasers() -> list[dict[str, str]]:
    """The users who may release a run, as HITL assigned users; fails when none is
    known (nobody could release, and everybody must not)."""
    ids = [u.strip() for u in conf.get("missiva", "releasers", fallback="").split(",")]
    ids = [u for u in ids if u]
    if not ids and "SimpleAuthManager" in conf.get("core", "auth_manager", fallback=""):
        ids = _simple_users_holding_release()
    if not ids:
        raise AirflowFailException(
            "nobody holds the release permission: set [missiva] releasers (user ids)"
        )
    return [{"id": user, "name": user} for user in ids]


def _simple_users_holding_release() -> list[str]:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
        SimpleAuthManagerRole,
    )

    from missiva.orchestration.permissions import RELEASE

    least = SimpleAuthManagerRole[RELEASE.simple_role.upper()].order
    users = conf.get("core", "simple_auth_manager_users", fallback="")
    held = []
    for entry in filter(None, (u.strip() for u in users.split(","))):
        name, _, role = entry.partition(":")
        known = SimpleAuthManagerRole.__members__.get(role.upper())
        if known is not None and known.order >= least:
            held.append(name)
    return held


class ReleaseGate(ApprovalOperator):
    """Waits for a releaser to approve (delivery goes on) or reject (the run's composed
    communications end ``cancelled``, nothing is sent) a held run."""

    def __init__(
        self, *, journey: Journey, policy_task_id: str, params: Any = None, **kwargs: Any
    ) -> None:
        form = ParamsDict(params)  # the DAG's, merged by Airflow; the form is the task's own
        form["reason"] = Param(
            None,  # optional: the UI's form refuses an empty string for a "string"
            type=["null", "string"],
            maxLength=500,
            description="why the run is rejected (recorded in the ledger)",
            source="task",
        )
        super().__init__(
            subject=f"Release {journey.name} run {{{{ run_id }}}}?",
            body="(summarised when the run is held)",
            params=form,
            **kwargs,
        )
        self.policy_task_id = policy_task_id

    def execute(self, context: Any) -> Any:
        held_because = context["ti"].xcom_pull(task_ids=self.policy_task_id, key=HOLD_REASONS)
        base_url = conf.get("api", "base_url", fallback="")
        self.body = stages.release_summary(held_because or [], base_url)
        self.assigned_users = releasers()
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Record the decision in the ledger, then let Airflow's operator go on (a
        rejection skips delivery by raising, so the ledger is written first)."""
        if "error" not in event:  # a response, not a timeout
            user = event["responded_by_user"] or {}
            by = str(user.get("name") or user.get("id") or "unknown")
            approved = event["chosen_options"] == [self.APPROVE]
            why = str((event["params_input"] or {}).get("reason") or "")
            count = stages.release_decision(approved, by, why)
            verdict = "released" if approved else f"cancelled (rejected: {why or 'no reason'})"
            self.log.info("%d communications %s by %s", count, verdict, by)
        return super().execute_complete(context, event)


def hold_branch(journey: Journey, chunks: list[int], pipelined: str, held: str) -> str:
    """The task to follow: ``held`` when the run's release policy holds it (the reasons
    pushed as XCom ``hold_reasons``), else ``pipelined``."""
    from airflow.sdk import get_current_context

    reasons = stages.release_hold(journey, chunks)
    get_current_context()["ti"].xcom_push(key=HOLD_REASONS, value=reasons)
    return held if reasons else pipelined
