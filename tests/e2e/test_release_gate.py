"""A journey run held at its release gate, released (or not) through a real
``airflow api-server``'s Human-in-the-loop REST API.

The run is ``dag.test()`` of the onboarding DAG with ``release_when: ["always"]``; it
parks ``held.release`` in ``awaiting_input`` and resumes when a response recorded by
the api-server (sharing the metadata DB) flips it back, as the Required Actions page
does. Users: ``releaser`` (role op: holds the release permission),
``clerk`` (role user: may act on DAG runs, not release), ``watcher`` (viewer).
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from auditor_fixtures import ApiServer, api_server
from browser import CHROMIUM_ARGS, chromium_path
from support import mail_by_recipient, run_dag, sms_by_reference

from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize

pytestmark = pytest.mark.e2e
USERS = {"releaser": "op", "clerk": "user", "watcher": "viewer"}
PENDING = "/api/v2/dags/onboarding/dagRuns/~/hitlDetails"
HELD = {"release_when": ["always"]}


@pytest.fixture(scope="module")
def server(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(airflow_db, tmp_path_factory.mktemp("missiva-release-api"), USERS) as running:
        running.wait_healthy()
        yield running


def _client(server: ApiServer, user: str) -> httpx.Client:
    token = httpx.post(
        f"{server.url}/auth/token",
        json={"username": user, "password": server.passwords[user]},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _pending(client: httpx.Client, timeout: float = 900) -> dict:
    """The run's release request once it waits for a response."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get(PENDING, params={"response_received": False}).json()
        if found.get("hitl_details"):
            (detail,) = found["hitl_details"]
            return detail
        time.sleep(1)
    raise AssertionError("the run never waited for release")


def _respond(client: httpx.Client, detail: dict, option: str, reason: str = "") -> httpx.Response:
    ti = detail["task_instance"]
    path = (
        f"/api/v2/dags/onboarding/dagRuns/{ti['dag_run_id']}/taskInstances/"
        f"{ti['task_id']}/{ti['map_index']}/hitlDetails"
    )
    return client.patch(path, json={"chosen_options": [option], "params_input": {"reason": reason}})


@dataclass
class Gate:
    """What the releaser saw while the run waited, and how it answered."""

    detail: dict = field(default_factory=dict)
    answer: Any = None  # the API's answer, or the response the UI recorded
    seen: dict = field(default_factory=dict)
    error: BaseException | None = None


def held_run(server: ApiServer, home: Path, decide: Callable[[httpx.Client, dict, Gate], None]):
    """``dag.test()`` of a held onboarding run (tasks run in this thread: Airflow's task
    runner needs the main thread); ``decide(releaser_client, detail, gate)`` runs in a
    thread once the run waits, and must answer. Returns the run and the gate."""
    gate = Gate()

    def release() -> None:
        with _client(server, "releaser") as releaser:
            try:
                gate.detail = _pending(releaser)
                decide(releaser, gate.detail, gate)
            except BaseException as exc:  # re-raised below, once the run has ended
                gate.error = exc
            finally:
                if gate.answer is None and gate.detail:  # never leave the run waiting
                    _respond(releaser, gate.detail, "Reject", "the test failed")

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    run = run_dag(conf=HELD)
    thread.join(60)
    if gate.error:
        raise gate.error
    return run, gate


@pytest.fixture
def home(journey_env, server, monkeypatch) -> Path:
    """A seeded Missiva home; the run's tasks know the api-server's users and address."""
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{n}:{r}" for n, r in USERS.items())
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", server.url)
    return journey_env[0]


def _ledger(home: Path) -> Ledger:
    return Ledger(f"sqlite:///{home / 'ledger.db'}")


def _sent_anything(home: Path) -> bool:
    return bool(
        mail_by_recipient(home / "mail")
        or sms_by_reference(home / "sms")
        or list((home / "print").glob("**/*.pdf"))
    )


def _held(home: Path) -> list:
    with _ledger(home) as ledger:
        return [c for c in ledger.communications() if c.status == "composed"]


def test_approved_run_waits_with_a_summary_then_delivers_once(server, home) -> None:
    def approve(releaser: httpx.Client, detail: dict, gate: Gate) -> None:
        gate.seen = {"held": _held(home), "sent anything": _sent_anything(home)}
        gate.answer = _respond(releaser, detail, "Approve")

    run, gate = held_run(server, home, approve)
    held = gate.seen["held"]
    assert held and not gate.seen["sent anything"], "composed, nothing sent while waiting"
    body = gate.detail["body"]
    assert f"**{len(held)} communications composed and held**" in body
    assert "Held because: the journey holds every run for release." in body
    for channel in {c.channel for c in held}:
        assert f"| {channel} | {sum(c.channel == channel for c in held)} |" in body
    assert "quarantined: " in body  # the seeded defects
    assert "First-time versions: welcome version" in body  # a fresh ledger
    proofs = [c for c in held if f"/missiva/communications/{c.communication_id}" in body]
    assert {(c.channel, c.template) for c in proofs} == {(c.channel, c.template) for c in held}
    assert f"]({server.url}/missiva/communications/" in body  # links into the Airflow UI
    assert gate.detail["assigned_users"] == [{"id": "releaser", "name": "releaser"}]

    assert gate.answer.status_code == 200, gate.answer.text
    assert gate.answer.json()["responded_by"] == {"id": "releaser", "name": "releaser"}
    assert run.state == "success"
    with _ledger(home) as ledger:
        comms = {c.communication_id: c for c in ledger.communications()}
        assert {comms[c.communication_id].status for c in held} == {"sent"}
        for comm in held:
            events = ledger.events(comm.communication_id)
            assert [e.kind for e in events][:2] == ["composed", "released"]
            assert json.loads(events[1].detail)["released_by"] == "releaser"
        assert ledger.verify_chain() == []
    mail = mail_by_recipient(home / "mail")
    for comm in (c for c in held if c.channel == "email"):
        assert len(mail[comm.recipient]) == 1, "delivered once"
    with _client(server, "releaser") as releaser:
        late = _respond(releaser, gate.detail, "Reject", "too late")
    assert late.status_code == 409, "a release is answered once"


def test_only_a_releaser_may_respond_and_a_rejected_run_sends_nothing(server, home) -> None:
    def reject(releaser: httpx.Client, detail: dict, gate: Gate) -> None:
        for user in ("watcher", "clerk"):
            with _client(server, user) as someone:
                gate.seen[user] = _respond(someone, detail, "Approve")
        gate.seen["held"] = _held(home)
        gate.answer = _respond(releaser, detail, "Reject", "letter date is wrong")

    run, gate = held_run(server, home, reject)
    for user in ("watcher", "clerk"):
        assert gate.seen[user].status_code == 403, (user, gate.seen[user].text)
    assert gate.answer.status_code == 200, gate.answer.text
    assert run.state == "success"  # rejecting is a decision, not a failure
    assert not _sent_anything(home)
    held = {c.communication_id for c in gate.seen["held"]}
    why = "release rejected by releaser: letter date is wrong"
    with _ledger(home) as ledger:
        comms = {c.communication_id: c for c in ledger.communications()}
        assert {i for i, c in comms.items() if c.status == "cancelled"} == held
        for comm_id in held:
            assert comms[comm_id].reason == why
            event = ledger.events(comm_id)[-1]
            assert (event.kind, json.loads(event.detail)["by"]) == ("cancelled", "releaser")
        summary = summarize(ledger, "onboarding", run.run_id)
        assert ledger.verify_chain() == []
    assert summary.statuses["cancelled"] == len(held) and summary.sent_by_this_run == 0
    assert summary.reasons["cancelled"] == {why: len(held)}
    assert f"  cancelled: {len(held)}" in summary.lines()


def test_a_releaser_approves_in_the_airflow_ui(server, home) -> None:
    """The Required Actions page of the run's task: the summary, then **Approve**."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    screenshot = home / "required-action.png"

    def approve_in_ui(releaser: httpx.Client, detail: dict, gate: Gate) -> None:
        run_id = detail["task_instance"]["dag_run_id"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/auth/login")
            page.fill("input[name=username]", "releaser")
            page.fill("input[name=password]", server.passwords["releaser"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/")
            page.goto(
                f"{server.url}/dags/onboarding/runs/{quote(run_id, safe='')}"
                "/tasks/held.release/required_actions"
            )
            page.get_by_text("communications composed and held").wait_for(timeout=60_000)
            gate.seen["page"] = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
            page.get_by_role("button", name="Approve").click()
            gate.answer = _answered(releaser, run_id)
            browser.close()

    run, gate = held_run(server, home, approve_in_ui)
    assert "Held because: the journey holds every run for release." in gate.seen["page"]
    assert gate.answer["chosen_options"] == ["Approve"]
    assert gate.answer["responded_by_user"] == {"id": "releaser", "name": "releaser"}
    assert run.state == "success"
    with _ledger(home) as ledger:
        statuses = {c.status for c in ledger.communications()}
        assert "sent" in statuses and not statuses & {"composed", "cancelled"}


def _answered(client: httpx.Client, run_id: str, timeout: float = 60) -> dict:
    """The run's release request once a response is recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get(PENDING, params={"response_received": True}).json()
        mine = [d for d in found["hitl_details"] if d["task_instance"]["dag_run_id"] == run_id]
        if mine:
            return mine[0]
        time.sleep(0.5)
    raise AssertionError("the click recorded no response")
