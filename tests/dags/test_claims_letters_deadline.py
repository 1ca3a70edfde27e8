"""The claims_letters DAG declares its deadline alert, the alert survives serialization,
and its callback records a miss with what was not out yet."""

import asyncio
import json
from datetime import timedelta

import pytest
from ledger_fixtures import fields
from support import REPO

from missiva.orchestration.deadlines import letters_overdue
from missiva.records.ledger import Ledger


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO / "dags").dags["claims_letters"]


def test_dag_declares_the_letters_deadline(dag):
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert isinstance(alert, DeadlineAlert)
    # a scheduled run's logical date is its interval's start: one day, then 6 hours
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(days=1, hours=6)
    assert alert.callback == AsyncCallback(letters_overdue, kwargs={"journey": "claims_letters"})


def test_deadline_survives_dag_serialization(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = json.dumps(DagSerialization.to_dict(dag))
    assert "missiva.orchestration.deadlines.letters_overdue" in serialized


def test_callback_records_the_miss_and_what_is_not_out(tmp_path, monkeypatch):
    monkeypatch.setenv("MISSIVA_HOME", str(tmp_path))
    monkeypatch.delenv("MISSIVA_LEDGER_URL", raising=False)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        for n, status in ((1, "composed"), (2, "sent")):
            key = f"claims_letters/claim_decision/C{n:06d}/event-{n}"
            ledger.add(**fields(n, idempotency_key=key, journey="claims_letters", status=status))
    context = {
        "dag_run": {
            "dag_id": "claims_letters",
            "dag_run_id": "scheduled__2026-11-02T00:00:00+00:00",
            "data_interval_start": "2026-11-02T00:00:00Z",
            "data_interval_end": "2026-11-03T00:00:00Z",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-11-03T06:00:00Z"},
    }
    alert = asyncio.run(letters_overdue("claims_letters", context=context))
    assert alert["not_out"] == 1 and alert["statuses"] == {"composed": 1, "sent": 1}
    (line,) = (tmp_path / "alerts" / "deadlines.jsonl").read_text().splitlines()
    assert json.loads(line) == alert
    assert alert["run_id"] == "scheduled__2026-11-02T00:00:00+00:00"
