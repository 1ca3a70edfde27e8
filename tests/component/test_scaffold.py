"""``missiva new-journey``: the files it writes, the approval, the demo data its seeder
adds, and the names it refuses."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from support import REPO, copy_of_repo

from missiva.cli import main
from missiva.composition import template_status
from missiva.composition.errors import TemplateError
from missiva.devtools.scaffold import ScaffoldError, check_name, new_journey


@pytest.fixture
def root(tmp_path):
    """A repository tree with what the scaffold reads: its sources, the templates and the
    demo schema."""
    for part in ("include/scaffold", "include/templates", "include/sql"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def test_new_journey_writes_every_file_and_approves_the_communication(root, capsys):
    assert main(["new-journey", "loyalty_bonus", "--root", str(root), "--by", "qa@x.example"]) == 0
    out = capsys.readouterr().out
    for relative in (
        "include/sql/loyalty_bonus_extract.sql",
        "include/expectations/loyalty_bonus.json",
        "include/missiva/journeys/loyalty_bonus.py",
        "include/missiva/devtools/seeders/loyalty_bonus.py",
        "dags/loyalty_bonus.py",
        "include/templates/communications/loyalty_bonus/meta.json",
        "include/templates/communications/loyalty_bonus/approvals.json",
    ):
        assert (root / relative).is_file(), relative
        assert f"created {relative}" in out
    status = template_status(root / "include/templates", "loyalty_bonus")
    assert status["status"] == "approved"
    (approval,) = json.loads(
        (root / "include/templates/communications/loyalty_bonus/approvals.json").read_text()
    )
    assert approval["approved_by"] == "qa@x.example"
    dag = (root / "dags/loyalty_bonus.py").read_text()
    assert 'dag_id="loyalty_bonus"' in dag and "LOYALTY_BONUS" in dag
    assert "%" not in dag
    suite = json.loads((root / "include/expectations/loyalty_bonus.json").read_text())
    assert suite["name"] == "loyalty_bonus"
    unique = {
        e["kwargs"]["column"]: e["meta"]["level"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_unique"
    }
    assert unique == {"row_id": "batch", "subject_key": "record"}, "keys fit any journey"
    assert "description=(" in dag
    assert "CREATE TABLE loyalty_bonus_events" in (root / "include/sql/core_schema.sql").read_text()
    assert "added table loyalty_bonus_events to include/sql/core_schema.sql" in out
    assert "make run JOURNEY=loyalty_bonus" in out


def test_existing_journey_is_refused_and_nothing_is_overwritten(root):
    new_journey("loyalty_bonus", root=root)
    sql = root / "include/sql/loyalty_bonus_extract.sql"
    sql.write_text("-- edited")
    schema = (root / "include/sql/core_schema.sql").read_text()
    with pytest.raises(ScaffoldError, match="exists already"):
        new_journey("loyalty_bonus", root=root)
    assert sql.read_text() == "-- edited"
    assert (root / "include/sql/core_schema.sql").read_text() == schema, "no second table"


def test_a_demo_table_of_that_name_is_refused(root):
    schema = root / "include/sql/core_schema.sql"
    schema.write_text(schema.read_text() + "\nCREATE TABLE loyalty_bonus_events (x TEXT);\n")
    with pytest.raises(ScaffoldError, match=r"exists already \(include/sql/core_schema.sql\)"):
        new_journey("loyalty_bonus", root=root)
    assert not (root / "dags").exists()


def test_a_failed_scaffold_leaves_the_demo_schema_as_it_was(root):
    schema = (root / "include/sql/core_schema.sql").read_text()
    meta = root / "include/scaffold/communication/meta.json"
    meta.write_text(meta.read_text().replace('"version": "0.1.0"', '"version": "9.9.9"'))
    with pytest.raises(TemplateError, match=r"cannot approve version 0\.1\.0"):
        new_journey("loyalty_bonus", root=root)
    assert (root / "include/sql/core_schema.sql").read_text() == schema
    assert not (root / "include/missiva/devtools/seeders/loyalty_bonus.py").exists()


# Runs in the copy (its missiva package and demo schema), as `missiva seed` and a DAG would.
EXTRACT = """
import json, sys
from datetime import UTC, datetime
from missiva.journeys import journey_named
from missiva.sources.extract import extract_journey
frame = extract_journey(sys.argv[1], journey_named(sys.argv[2]),
                        datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
print(json.dumps({"columns": list(frame.columns), "rows": frame.to_dict(orient="records")}))
"""


def test_the_scaffolded_seeder_fills_the_table_the_extract_reads(tmp_path):
    root = copy_of_repo(tmp_path / "repo")
    new_journey("loyalty_bonus", root=root)
    env = os.environ | {"PYTHONPATH": str(root / "include")}  # the copy's missiva wins
    bin_dir = Path(sys.executable).parent
    db = tmp_path / "core.db"
    seed = [str(bin_dir / "missiva"), "seed", "--db", str(db), "--customers", "40"]
    seeded = subprocess.run(seed, capture_output=True, text=True, env=env, check=False)
    assert seeded.returncode == 0, seeded.stderr

    with closing(sqlite3.connect(db)) as conn:
        events = conn.execute("SELECT * FROM loyalty_bonus_events ORDER BY event_id").fetchall()
        day = conn.execute(
            "SELECT DISTINCT customer_id FROM customers AS c WHERE joined_at LIKE '2026-11-02 %'"
            " AND row_id = (SELECT MIN(row_id) FROM customers WHERE customer_id = c.customer_id)"
        ).fetchall()
    assert len(events) == len(day) > 30, "one event per customer of the demo day"
    assert {customer for _, customer, _ in events} == {customer for (customer,) in day}

    extract = [str(sys.executable), "-c", EXTRACT, f"sqlite:///{db}", "loyalty_bonus"]
    result = subprocess.run(extract, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    extracted = json.loads(result.stdout)
    rows = extracted["rows"]
    assert [r["row_id"] for r in rows] == [event_id for event_id, _, _ in events]
    assert [r["subject_key"] for r in rows] == [f"loyalty_bonus-{e}" for e, _, _ in events]
    assert [(r["customer_id"], r["occurred_at"]) for r in rows] == [e[1:] for e in events]
    suite = json.loads((root / "include/expectations/loyalty_bonus.json").read_text())
    assert set(extracted["columns"]) == set(suite["expectations"][0]["kwargs"]["column_set"])


def test_existing_communication_name_is_refused(root):
    with pytest.raises(ScaffoldError, match=r"welcome.*exists already"):
        new_journey("welcome", root=root)
    assert not (root / "dags").exists()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Loyalty",
        "loyalty-bonus",
        "2fast",
        "_private",
        "a__b",
        "trailing_",
        "import",
        "x" * 41,
        "../escape",
    ],
)
def test_invalid_names_are_refused(name):
    with pytest.raises(ScaffoldError, match="invalid journey name"):
        check_name(name)


def test_cli_reports_a_refusal_in_one_line(root, capsys):
    assert main(["new-journey", "Bad-Name", "--root", str(root)]) == 1
    assert "invalid journey name 'Bad-Name'" in capsys.readouterr().err
