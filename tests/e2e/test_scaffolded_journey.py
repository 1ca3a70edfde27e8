"""A journey scaffolded by ``missiva new-journey`` runs green on the demo data at once:
scaffolded into a copy of the repository (``--root``), its demo table seeded by the copy's
``missiva seed``, run with ``airflow dags test`` against those core systems and the real
SMTP server of ``journey_env``.
"""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from support import REPO, copy_of_repo, mail_by_recipient

from missiva.records.ledger import Ledger

pytestmark = pytest.mark.e2e
NAME = "loyalty_bonus"


def test_scaffolded_journey_runs_on_the_demo_data(journey_env, tmp_path):
    home, _ = journey_env
    root = copy_of_repo(tmp_path / "repo")
    bin_dir = Path(sys.executable).parent
    scaffolded = subprocess.run(
        [str(bin_dir / "missiva"), "new-journey", NAME, "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert scaffolded.returncode == 0, scaffolded.stderr
    assert not (REPO / "dags" / f"{NAME}.py").exists(), "the real tree is untouched"

    env = os.environ | {
        "PYTHONPATH": str(root / "include"),  # the copy's missiva package wins
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
    }
    seed = [str(bin_dir / "missiva"), "seed", "--db", str(home / "core.db")]
    reseeded = subprocess.run(
        [*seed, "--customers", "40", "--seed", "7", "--joined-on", "2026-11-02"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert reseeded.returncode == 0, reseeded.stderr
    with closing(sqlite3.connect(home / "core.db")) as conn:
        events = conn.execute(
            f"SELECT COUNT(*) FROM {NAME}_events WHERE occurred_at LIKE '2026-11-02 %'"
        ).fetchone()[0]
    run = subprocess.run(
        [str(bin_dir / "airflow"), "dags", "test", NAME, "2026-11-03"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"of {NAME}, data interval [2026-11-02 00:00, 2026-11-03 00:00) UTC" in run.stdout

    rows = Ledger(f"sqlite:///{home / 'ledger.db'}").communications(journey=NAME)
    assert events, "the scaffolded seeder planted the day's events"
    assert len(rows) == events, "every event of the day is accounted for"
    sent = [r for r in rows if r.status == "sent"]
    assert {r.channel for r in sent} == {"email", "paper"}
    assert {r.status for r in rows} <= {"sent", "suppressed", "quarantined", "deferred"}
    mail = mail_by_recipient(home / "mail")
    assert {r.recipient for r in sent if r.channel == "email"} == set(mail)
