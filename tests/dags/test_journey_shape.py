"""The journeys' shape: a chunk is delivered as soon as it is composed (one task group
mapped over the chunks) unless the run is held for release (then every chunk is composed,
a person releases the run, and only then is it delivered), parallelism comes from
Airflow's configuration, and deferred deliveries are mapped in chunks."""

import os
import subprocess
import sys

import pytest
from support import REPO

JOURNEY_DAGS = ["onboarding", "renewal_notices", "billing_statements", "claims_letters"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO / "dags")


@pytest.mark.parametrize("dag_id", JOURNEY_DAGS)
def test_each_chunk_is_delivered_right_after_its_composition(dagbag, dag_id):
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    dag = dagbag.dags[dag_id]
    compose, deliver = dag.get_task("chunk.compose"), dag.get_task("chunk.deliver")
    assert isinstance(compose.task_group, MappedTaskGroup)
    assert compose.task_group is deliver.task_group  # mapped together, per chunk
    assert compose.upstream_task_ids == {"validate", "release_policy"}
    assert deliver.upstream_task_ids == {"chunk.compose"}
    delivered = {"chunk.deliver", "held.deliver"}  # one of the two is skipped
    assert dag.get_task("print_batches").upstream_task_ids == delivered
    # the letters sent are batched even when a chunk failed (or a rejected run skipped
    # delivery); the report (none_failed) then ends upstream_failed, so the run still fails
    assert dag.get_task("print_batches").trigger_rule == "all_done"
    assert dag.get_task("report").upstream_task_ids == {"print_batches", *delivered}
    assert dag.get_task("report").trigger_rule == "none_failed"  # a day with no chunk
    assert (compose.max_active_tis_per_dagrun, deliver.max_active_tis_per_dagrun) == (2, 2)


@pytest.mark.parametrize("dag_id", JOURNEY_DAGS)
def test_a_held_run_is_delivered_only_after_its_release(dagbag, dag_id):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = dagbag.dags[dag_id]
    policy = dag.get_task("release_policy")
    assert policy.downstream_task_ids == {"chunk.compose", "held.compose"}  # a branch
    compose, gate = dag.get_task("held.compose"), dag.get_task("held.release")
    deliver = dag.get_task("held.deliver")
    assert hasattr(compose, "expand_input") and hasattr(deliver, "expand_input")
    assert compose.upstream_task_ids == {"validate", "release_policy"}
    assert isinstance(gate, ApprovalOperator)
    assert gate.upstream_task_ids == {"held.compose"}  # every chunk composed first
    assert deliver.upstream_task_ids == {"validate", "held.release"}
    assert deliver.trigger_rule == "all_success"  # a rejection (skipped gate) skips it
    assert dag.params["release_when"] == [] and dag.params["release_threshold"] == 1000
    assert set(gate.params) == {"reason"}  # the form asks for the reason only


def test_deferred_deliveries_are_mapped_in_chunks(dagbag):
    dag = dagbag.dags["deferred_deliveries"]
    deliver = dag.get_task("deliver_due")
    assert deliver.upstream_task_ids == {"find_due"}
    assert hasattr(deliver, "expand_input")  # a mapped task
    assert dag.get_task("print_late_batches").upstream_task_ids == {"find_due", "deliver_due"}
    assert dag.params["chunk_size"] == 500


def test_parallelism_is_an_airflow_option():
    """``[missiva] compose_parallelism`` / ``deliver_parallelism`` size the mapped tasks."""
    probe = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("onboarding", {str(REPO / "dags/onboarding.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = module.onboarding()
print(dag.get_task("chunk.compose").max_active_tis_per_dagrun,
      dag.get_task("chunk.deliver").max_active_tis_per_dagrun)
"""
    env = {
        "AIRFLOW__MISSIVA__COMPOSE_PARALLELISM": "6",
        "AIRFLOW__MISSIVA__DELIVER_PARALLELISM": "12",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert out.stdout.split()[-2:] == ["6", "12"]
