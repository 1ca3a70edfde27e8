"""DAG integrity: every DAG imports fast, without heavy libraries, and follows the house rules."""

import json
import subprocess
import sys

import pytest
from support import REPO

from missiva.vocabulary import DAG_TAGS

# Not boto3: with the Amazon provider installed, Airflow imports it (the provider's S3
# asset URI handler) as soon as a DAG declares any Asset; the time limit still holds.
HEAVY = ("pandas", "weasyprint", "great_expectations")
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO / "dags")


def test_there_are_dags_and_no_import_errors(dagbag):
    """Also the cycle check: the DagBag refuses a DAG with a cycle as an import error."""
    assert DAG_FILES, "no DAG files found"
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert set(dag.tags) <= DAG_TAGS, f"{dag_id}: tags outside the vocabulary"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} lacks doc_md"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id}: no owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id}: retries < 2"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parses_fast_without_heavy_imports(dag_file):
    """Import the DAG file alone (after Airflow itself) and time it: CPU time, which is
    what the dag-processor spends on it, whatever else the machine runs meanwhile."""
    probe = f"""
import importlib.util, json, sys, time
import airflow.sdk
before = time.process_time()
spec = importlib.util.spec_from_file_location("dag_under_test", {str(dag_file)!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps({{"seconds": time.process_time() - before,
                   "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"{dag_file.name} imports {result['heavy']} at parse time"
    assert result["seconds"] < 2.0, f"{dag_file.name} took {result['seconds']:.2f} CPU-s to parse"
