"""Erasure by crypto-shredding on the local archive folder (SQLite ledger): see
``privacy_scenario`` for what is checked; plus the master key's rotation, the CLI and
the daily purge's refusal to touch a customer under legal hold."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from privacy_scenario import DPO, WHY, delivered_day, erase_and_check
from support import settings_for

from missiva.cli import main
from missiva.privacy import holds, master_key
from missiva.privacy.keys import KeyUnwrapError, Purged, rotate_master_key
from missiva.privacy.retention import purge
from missiva.privacy.sealing import address_of, sealed
from missiva.records.artifacts import object_key
from missiva.records.audit import verify
from missiva.records.ledger import Ledger
from missiva.records.store import LocalArtifactStore


def _live(comm) -> bool:
    """A sent communication of a customer not erased."""
    return comm.status == "sent" and not comm.recipient.startswith("erased-")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):
    settings = settings_for(tmp_path_factory.mktemp("privacy-local"))
    delivered_day(settings)
    return settings


def test_erasure_on_the_local_archive(day) -> None:
    with Ledger(day.ledger_url) as ledger:
        erase_and_check(day, ledger, LocalArtifactStore(day.home / "archive"))


def test_erase_and_trace_from_the_command_line(day, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MISSIVA_HOME", str(day.home))
    monkeypatch.setenv("MISSIVA_ARCHIVE_URL", day.archive_url)
    with Ledger(day.ledger_url) as ledger:
        customer = next(c for c in ledger.communications() if _live(c)).customer_id
    args = ["privacy", "--ledger", day.ledger_url, "erase", "--customer", customer]
    assert main([*args, "--by", DPO, "--reason", WHY]) == 0
    assert f"erased customer {customer} on " in capsys.readouterr().out
    assert main(["audit", "--ledger", day.ledger_url, "trace", "--customer", customer]) == 0
    trace = capsys.readouterr().out
    rows = [line for line in trace.splitlines() if customer in line]
    assert rows and all("customer erased on " in r and DPO in r for r in rows), trace
    assert main(["audit", "--ledger", day.ledger_url, "verify", "--full"]) == 0
    assert "verify: intact (full" in capsys.readouterr().out


def test_rotating_the_master_key_rewraps_every_data_key(day, monkeypatch, capsys) -> None:
    new, current = "the next master key", os.environ[master_key.ENV_VAR]
    with Ledger(day.ledger_url) as ledger:
        comm = next(c for c in ledger.communications() if _live(c))
        monkeypatch.setenv("MISSIVA_NEW_MASTER_KEY", new)
        assert main(["privacy", "--ledger", day.ledger_url, "rotate-master-key"]) == 0
        assert "data key(s) re-wrapped" in capsys.readouterr().out
        archive = LocalArtifactStore(day.home / "archive")
        with pytest.raises(KeyUnwrapError, match="does not open under master key"):
            sealed(archive, ledger).get(comm.input_uri, comm.data_sha256)
        monkeypatch.setenv(master_key.ENV_VAR, new)
        record = json.loads(sealed(archive, ledger).get(comm.input_uri, comm.data_sha256))
        assert record["customer_id"] == comm.customer_id
        assert rotate_master_key(ledger, new, current) > 0  # back, for the tests after


def test_purge_deletes_what_expired_and_keeps_a_held_customer(day, capsys) -> None:
    later = "2037-01-01T00:00:00+00:00"  # past every 10-year retention of the day
    with Ledger(day.ledger_url) as ledger:
        archive = LocalArtifactStore(day.home / "archive")
        store = sealed(archive, ledger)
        held, other = [c for c in ledger.communications() if _live(c)][:2]
        holds.place(ledger, held.customer_id, "legal@missiva.example", "litigation 2026/17")
        objects = sorted(archive.root.rglob("sha256/*/*"))

        assert (
            main(["privacy", "--ledger", day.ledger_url, "purge", "--now", later, "--dry-run"]) == 0
        )
        assert "archived object(s) would be deleted" in capsys.readouterr().out
        assert sorted(archive.root.rglob("sha256/*/*")) == objects, "a dry run changes nothing"

        result = purge(ledger, store, day.retention, datetime.fromisoformat(later), dry_run=False)
        assert result.deleted and not result.locked and held.customer_id in result.held
        assert other.customer_id in result.erased and held.customer_id not in result.erased
        gone = [archive.root / object_key(address_of(u)) for u in result.deleted]
        assert gone and not [p for p in gone if p.exists()]
        assert json.loads(store.get(held.input_uri, held.data_sha256))["customer_id"] == (
            held.customer_id
        )
        with pytest.raises(Purged, match="purged on "):
            store.get(other.artifact_uri, other.artifact_sha256)
        assert verify(ledger, archive, full=True).problems == []
        again = purge(ledger, store, day.retention, datetime.fromisoformat(later), dry_run=False)
        assert again.deleted == [] and again.erased == []

        # the purge's exemption is for what it recorded: a held object deleted by hand is
        # still found missing
        (archive.root / object_key(address_of(held.artifact_uri))).unlink()
        (problem,) = verify(ledger, archive, full=True).problems
        assert held.communication_id in problem and "missing" in problem


def test_a_postgres_ledger_refuses_to_seal_without_a_master_key(monkeypatch) -> None:
    monkeypatch.delenv(master_key.ENV_VAR)
    with pytest.raises(master_key.MasterKeyMissing, match="set MISSIVA_MASTER_KEY"):
        master_key.resolve("postgresql+psycopg://missiva@db.example/ledger")
    assert master_key.resolve(f"sqlite:///{Path('/tmp/x.db')}").key == (
        master_key.MasterKey.of(master_key.DEMO_KEY).key
    )
