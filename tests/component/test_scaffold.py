"""``missiva new-journey``: the files it writes, the approval, and the names it refuses."""

import json
import shutil

import pytest
from support import REPO

from missiva.cli import main
from missiva.composition import template_status
from missiva.devtools.scaffold import ScaffoldError, check_name, new_journey


@pytest.fixture
def root(tmp_path):
    """A repository tree with what the scaffold reads: its sources and the templates."""
    for part in ("include/scaffold", "include/templates"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def test_new_journey_writes_every_file_and_approves_the_communication(root, capsys):
    assert main(["new-journey", "loyalty_bonus", "--root", str(root), "--by", "qa@x.example"]) == 0
    out = capsys.readouterr().out
    for relative in (
        "include/sql/loyalty_bonus_extract.sql",
        "include/expectations/loyalty_bonus.json",
        "include/missiva/journeys/loyalty_bonus.py",
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
    [key] = [
        e
        for e in suite["expectations"]
        if e["kwargs"].get("column") == "customer_id" and "unique" in e["type"]
    ]
    assert key["meta"]["level"] == "record" and "subject_key" in key["meta"]["note"]
    assert "description=(" in dag
    assert "make run JOURNEY=loyalty_bonus" in out


def test_existing_journey_is_refused_and_nothing_is_overwritten(root):
    new_journey("loyalty_bonus", root=root)
    sql = root / "include/sql/loyalty_bonus_extract.sql"
    sql.write_text("-- edited")
    with pytest.raises(ScaffoldError, match="exists already"):
        new_journey("loyalty_bonus", root=root)
    assert sql.read_text() == "-- edited"


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
