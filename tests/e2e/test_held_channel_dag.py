"""A channel held until the deliver task runs out of retries (`dag.test()` of onboarding,
the SMS provider down for the whole run): the e-mails and letters still go out, the day's
letters are batched for print in this run, and the run fails, its report not run."""

import json

import pytest
from support import free_port, mail_by_recipient, run_dag

from missiva.records.ledger import Ledger

pytestmark = pytest.mark.e2e


def test_letters_are_batched_while_a_held_channel_fails_the_run(journey_env, monkeypatch):
    home, _ = journey_env
    # nothing listens on this port: every SMS is held back, try after try
    down = {"conn_type": "http", "host": "127.0.0.1", "port": free_port(), "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_SMS", json.dumps(down | {"password": "t"}))

    run = run_dag()

    assert run.state == "failed"
    states = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, set()).add(ti.state)
    assert "failed" in states["chunk.deliver"]
    assert states["print_batches"] == {"success"}
    assert states["report"] == {"upstream_failed"}

    rows = Ledger(f"sqlite:///{home / 'ledger.db'}").communications(journey="onboarding")
    by_channel: dict[str, set[str]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, set()).add(row.status)
    assert "sent" not in by_channel["sms"], "no SMS can have gone out"
    assert by_channel["email"] >= {"sent"} and by_channel["paper"] >= {"sent"}
    letters = {r.communication_id for r in rows if r.channel == "paper" and r.status == "sent"}
    assert sum(len(m) for m in mail_by_recipient(home / "mail").values()) == len(
        [r for r in rows if r.channel == "email" and r.status == "sent"]
    )

    print_dir = home / "print" / "onboarding" / "2026-11-02" / "batches"
    manifests = [json.loads(p.read_text()) for p in print_dir.glob("*.manifest.json")]
    batched = {c for m in manifests for e in m["envelopes"] for c in e["communication_ids"]}
    assert batched == letters, "every letter that went out is in this run's print batch"
