"""No personal data in what Airflow keeps: real runs of onboarding (the seed's hostile
and defective records), claims_letters and renewal_notices through the LocalExecutor
(its workers call a real ``airflow api-server``'s execution API and write each task's
log file under AIRFLOW_HOME/logs, as in a deployment); then every task log, every XCom
value and the note of the run are searched for the seeded customers' names, e-mail
addresses, phone numbers and address lines.
Slow: an api-server, Airflow + Great Expectations + WeasyPrint."""

import json
import sqlite3

import pytest
from support import run_dag

pytestmark = pytest.mark.e2e

PERSONAL = ("first_name", "last_name", "email", "phone", "address_line1", "address_line2")


def _personal_values(core_db) -> dict[str, str]:
    """value -> 'row_id.column' for every personal value seeded (4+ characters, so that
    a short name cannot match inside an unrelated word)."""
    values = {}
    with sqlite3.connect(core_db) as conn:
        conn.row_factory = sqlite3.Row
        for row in conn.execute("SELECT * FROM customers"):
            for column in PERSONAL:
                value = (row[column] or "").strip()
                for part in {value, *value.split("\r\n")}:
                    if len(part.strip()) >= 4:
                        values[part.strip()] = f"{row['row_id']}.{column}"
    return values


def _xcoms(airflow_home, run_id) -> list[tuple[str, str]]:
    with sqlite3.connect(airflow_home / "airflow.db") as conn:
        rows = conn.execute(
            "SELECT task_id, map_index, key, value FROM xcom WHERE run_id = ?", (run_id,)
        )
        return [(f"xcom {t}[{m}] {k}", str(v)) for t, m, k, v in rows]


def _note(airflow_home, run_id) -> str:
    with sqlite3.connect(airflow_home / "airflow.db") as conn:
        (note,) = conn.execute(
            "SELECT n.content FROM dag_run_note n JOIN dag_run r ON r.id = n.dag_run_id"
            " WHERE r.run_id = ?",
            (run_id,),
        ).fetchone()
        return note


def _logs(airflow_home, run_id) -> list[tuple[str, str]]:
    folders = [p for p in (airflow_home / "logs").rglob("*") if p.is_dir() and run_id in p.name]
    assert folders, f"no task logs for {run_id} under {airflow_home / 'logs'}"
    return [
        (str(f), f.read_text(errors="replace"))
        for d in folders
        for f in d.rglob("*")
        if f.is_file()
    ]


@pytest.mark.parametrize("dag_id", ["onboarding", "claims_letters", "renewal_notices"])
def test_a_run_leaves_no_personal_data_in_logs_or_xcom(
    dag_id, journey_env, airflow_db, execution_api, monkeypatch
):
    home, report = journey_env
    # Airflow 3.3.2's dag.test() cannot finish a run carrying a deadline alert (README)
    monkeypatch.setenv("MISSIVA_DEADLINE_ALERTS", "off")
    run = run_dag(dag_id, use_executor=True)
    assert run.state == "success"

    xcoms, logs = _xcoms(airflow_db, run.run_id), _logs(airflow_db, run.run_id)
    assert {where.split("/task_id=")[1].split("/")[0] for where, _ in logs} >= {
        "extract",
        "validate",
        "chunk.compose",
        "chunk.deliver",
        "print_batches",
        "report",
    }
    if dag_id == "onboarding":  # the seed's defects: quarantined, with their reasons
        assert report.defects
        reasons = dict(xcoms)["xcom report[-1] reasons"]
        assert "quarantined" in reasons and "invalid e-mail address" in reasons
    assert any("staging deleted" in text for _, text in logs)
    assert not list((home / "staging").rglob("*.jsonl")), "staging outlives the run"
    # the run's report is its note in the UI (set by the scheduler-side listener)
    note = _note(airflow_db, run.run_id)
    statuses = json.loads(dict(xcoms)["xcom report[-1] statuses"])
    assert note.startswith("**Missiva run summary**"), note
    assert f"{statuses.pop('sent')} sent (email: " in note
    assert all(f"{n} {status}" in note for status, n in statuses.items())
    found = [*xcoms, *logs, ("the run's note", note)]
    leaks = {
        (where, value, origin)
        for where, text in found
        for value, origin in _personal_values(home / "core.db").items()
        if value in text
    }
    assert not leaks, sorted(leaks)[:20]
