"""A journey triggered without a logical date (the UI's default) refuses to run instead of
processing an empty data interval and reporting success."""

import pytest
from support import run_dag

from missiva.records.ledger import Ledger

pytestmark = pytest.mark.e2e


def test_a_run_without_a_logical_date_fails_at_extract_and_sends_nothing(journey_env):
    home, _report = journey_env
    dag_run = run_dag("onboarding", logical_date=None)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "failed"
    assert states["extract"] == "failed"
    # print_batches runs whatever failed before it (the day's letters go to print): here
    # there is none to batch
    ran = ("extract", "print_batches")
    assert all(state != "success" for task, state in states.items() if task not in ran)
    assert states["report"] == "upstream_failed"
    assert not list(home.glob("print/**/*.manifest.json"))
    ledger_db = home / "ledger.db"
    assert not ledger_db.exists() or Ledger(f"sqlite:///{ledger_db}").count() == 0
