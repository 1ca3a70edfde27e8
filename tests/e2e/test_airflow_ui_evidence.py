"""What an operator sees in the Airflow UI after a journey run, read in a real headless
Chromium from a real ``airflow api-server``: the DAG list shows the journey's description,
the ``report`` task's log shows Missiva's INFO lines (the report), and the DAG run shows
the run summary note (set by the run-note listener, so the run goes through the
LocalExecutor: ``dag.test(use_executor=True)``).

Each check leaves a screenshot in the test's temporary folder (the paths are printed);
``docs/screenshots/`` holds a copy of each for the README.
Needs Debian's Chromium at /usr/bin/chromium: skipped without it, failed when CI=true.
Slow: an api-server, Airflow + Great Expectations + WeasyPrint.
"""

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import launched_chromium
from support import REPO, run_dag

from missiva.records.run_report import NOTE_TITLE

pytestmark = pytest.mark.e2e
DAG_ID = "onboarding"
UI_TIMEOUT_MS = 30_000


def _signed_in(browser, server):
    """A page signed in through Airflow's login form as the api-server's only user."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{server.url}/")
    page.wait_for_url("**/auth/login**")
    (user,) = server.passwords
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", server.passwords[user])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page


def _screenshot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def _description() -> str:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO / "dags").get_dag(DAG_ID).description


def _extracted(airflow_home: Path, run_id: str) -> int:
    """The records run ``run_id`` extracted, as its report task returned them (XCom)."""
    with sqlite3.connect(airflow_home / "airflow.db") as conn:
        (value,) = conn.execute(
            "SELECT value FROM xcom WHERE run_id = ? AND task_id = 'report' AND key = 'extracted'",
            (run_id,),
        ).fetchone()
        return int(value)


def test_the_ui_shows_description_report_log_and_run_note(
    journey_env, airflow_db, execution_api, monkeypatch, tmp_path
):
    # Airflow 3.3.2's dag.test() cannot finish a run carrying a deadline alert (README)
    monkeypatch.setenv("MISSIVA_DEADLINE_ALERTS", "off")
    run = run_dag(DAG_ID, use_executor=True)
    assert run.state == "success"
    extracted = _extracted(airflow_db, run.run_id)
    assert extracted > 0
    run_url = f"{execution_api.url}/dags/{DAG_ID}/runs/{quote(run.run_id, safe='')}"

    with launched_chromium() as browser:
        page = _signed_in(browser, execution_api)

        # the DAG list: the description is the tooltip of the DAG's name
        page.goto(f"{execution_api.url}/dags")
        page.locator(f"a[href$='/dags/{DAG_ID}']").first.hover()
        tooltip = page.get_by_role("tooltip")
        tooltip.wait_for()
        assert tooltip.inner_text() == _description()
        _screenshot(page, tmp_path, "dag-list")

        # the report task's log: Missiva's INFO lines, the run's report
        page.goto(f"{run_url}/tasks/report")
        page.get_by_text("records extracted:").first.wait_for()
        log = page.inner_text("body")
        assert f"of {DAG_ID}, data interval [2026-11-02 00:00, 2026-11-03 00:00) UTC" in log
        assert re.search(rf"INFO -\s+records extracted: {extracted}\n", log), log[-3000:]
        assert re.search(r"INFO -\s+sent by this run: \d+ \(email: \d+", log)
        _screenshot(page, tmp_path, "report-log")

        # the DAG run: the run summary note the listener set, its Markdown rendered
        page.goto(run_url)
        page.get_by_text(NOTE_TITLE.strip("*")).first.wait_for()
        body = page.inner_text("body")
        assert f"{extracted} extracted, " in body and NOTE_TITLE not in body
        _screenshot(page, tmp_path, "run-note")
