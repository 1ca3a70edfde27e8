"""An e-mail whose SMTP reply is lost after the data, in a real Airflow run (``dag.test()``):
the communication is ``review`` and not resent, and the run is not a silent success —
its report task fails naming the review items, every other task succeeds. Slow: Airflow
+ Great Expectations + WeasyPrint."""

import json
from collections import Counter

import pytest
from faulty_smtp import faulty_smtp
from support import run_dag

from missiva.records.ledger import Ledger

pytestmark = pytest.mark.e2e


def test_a_lost_reply_fails_the_report_not_the_delivery(journey_env, monkeypatch):
    home, _ = journey_env
    with faulty_smtp("reply", at=2) as server:
        smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": server.port}
        smtp["extra"] = {"disable_tls": True, "disable_ssl": True}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
        run = run_dag()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states.pop("report") == "failed"
    assert set(states.values()) <= {"success", "skipped"}, states
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    (lost,) = [c for c in ledger.communications() if c.status == "review"]
    assert lost.recipient == server.received[1]
    assert Counter(server.received)[lost.recipient] == 1, "never resent"
    emails = {c.recipient for c in ledger.communications() if c.channel == "email"}
    assert set(server.received) == emails
