"""The daily ``privacy_purge`` DAG after an onboarding run, both under the master key of
the ``missiva_master_key`` Connection: ten years on, every expired object of the local
archive is deleted (a chained ``purged`` event each), every customer's key destroyed
except the one under legal hold, and the ledger still verifies."""

import json
from datetime import UTC, datetime

import pytest
from support import run_dag

from missiva.privacy import holds, master_key
from missiva.privacy.keys import Keyring
from missiva.privacy.master_key import ENV_VAR
from missiva.records.audit import verify
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e
MASTER = "master-key-of-the-connection"


@pytest.fixture
def connection_key():
    """The tasks install the Connection's key in this (dag.test) process: forgotten after."""
    yield
    master_key.install(None)


def test_purge_dag_removes_what_expired(journey_env, monkeypatch, connection_key) -> None:
    home, _ = journey_env
    conn = {"conn_type": "generic", "password": MASTER}
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_MASTER_KEY", json.dumps(conn))
    monkeypatch.setenv(ENV_VAR, "not the key the tasks use")
    assert run_dag().state == "success"
    master_key.install(None)  # what the tasks installed; the CLI's key must be the same
    monkeypatch.setenv(ENV_VAR, MASTER)
    ledger = Ledger(f"sqlite:///{home / 'ledger.db'}")
    sent = [c for c in ledger.communications() if c.status == "sent"]
    kept = sent[0]
    holds.place(ledger, kept.customer_id, "legal@missiva.example", "litigation 2026/17")
    archive = LocalArtifactStore(home / "archive")
    before = len(list(archive.root.rglob("sha256/*/*")))

    assert run_dag("privacy_purge", logical_date=datetime(2037, 1, 1, tzinfo=UTC)).state == (
        "success"
    )

    purged = [e for e in ledger.events() if e.kind == "purged"]
    assert purged and len(list(archive.root.rglob("sha256/*/*"))) < before
    keyring = Keyring(ledger)
    customers = {c.customer_id for c in sent}
    assert {c for c in customers if keyring.erased(c)} == customers - {kept.customer_id}
    assert verify(ledger, archive, full=True).problems == []
