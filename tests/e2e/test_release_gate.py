"""A journey run held at its release gate, released (or not) through a real
``airflow api-server``'s Human-in-the-loop REST API.

The run is ``dag.test()`` of the onboarding DAG with ``release_when: ["always"]``, in a
thread of this process; it parks ``held.release`` in ``awaiting_input`` and resumes when
a response recorded by the api-server (sharing the metadata DB) flips it back, as the
Required Actions page does. Users: ``releaser`` (role op: holds the release permission),
``clerk`` (role user: may act on DAG runs, not release), ``watcher`` (viewer).
"""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auditor_fixtures import ApiServer, api_server
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


class HeldRun:
    """``dag.test()`` of a held onboarding run, in a thread; the run when it ends."""

    def __init__(self) -> None:
        self.run = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._test, daemon=True)
        self.thread.start()

    def _test(self) -> None:
        try:
            self.run = run_dag(conf=HELD)
        except BaseException as exc:  # reported by finished()
            self.error = exc

    def pending(self, client: httpx.Client, timeout: float = 600) -> dict:
        """The run's release request once it waits for a response."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise AssertionError(f"the run ended without waiting: {self.error or self.run}")
            found = client.get(PENDING, params={"response_received": False}).json()
            if found.get("hitl_details"):
                (detail,) = found["hitl_details"]
                return detail
            time.sleep(1)
        raise AssertionError("the run never waited for release")

    def finished(self, timeout: float = 600):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end after the response"
        if self.error:
            raise self.error
        return self.run


def _respond(client: httpx.Client, detail: dict, option: str, reason: str = "") -> httpx.Response:
    ti = detail["task_instance"]
    path = (
        f"/api/v2/dags/onboarding/dagRuns/{ti['dag_run_id']}/taskInstances/"
        f"{ti['task_id']}/{ti['map_index']}/hitlDetails"
    )
    return client.patch(path, json={"chosen_options": [option], "params_input": {"reason": reason}})


@pytest.fixture
def held(journey_env, server, monkeypatch):
    """A held run (its tasks see the api-server's users), the releaser's client, the
    Missiva home."""
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{n}:{r}" for n, r in USERS.items())
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", server.url)
    home, _ = journey_env
    with _client(server, "releaser") as releaser:
        run = HeldRun()
        detail = run.pending(releaser)
        yield run, detail, releaser, home


def _ledger(home: Path) -> Ledger:
    return Ledger(f"sqlite:///{home / 'ledger.db'}")


def _nothing_sent(home: Path) -> None:
    assert not mail_by_recipient(home / "mail"), "no e-mail before release"
    assert not sms_by_reference(home / "sms"), "no SMS before release"
    assert not list((home / "print").glob("**/*.pdf")), "no letter printed before release"


def test_waiting_run_shows_a_summary_and_sends_nothing(held, server) -> None:
    run, detail, releaser, home = held
    with _ledger(home) as ledger:
        composed = [c for c in ledger.communications() if c.status == "composed"]
    assert composed, "the held run composed its communications"
    _nothing_sent(home)
    body = detail["body"]
    assert f"**{len(composed)} communications composed and held**" in body
    assert "Held because: the journey holds every run for release." in body
    for channel in {c.channel for c in composed}:
        assert f"| {channel} | {sum(c.channel == channel for c in composed)} |" in body
    assert "quarantined: " in body  # the seeded defects
    assert "First-time versions: onboarding_welcome version" in body  # a fresh ledger
    proofs = [c for c in composed if f"/missiva/communications/{c.communication_id}" in body]
    assert {(c.channel, c.template) for c in proofs} == {(c.channel, c.template) for c in composed}
    assert f"]({server.url}/missiva/communications/" in body  # links into the Airflow UI
    assert detail["assigned_users"] == [{"id": "releaser", "name": "releaser"}]
    _respond(releaser, detail, "Reject", "test cleanup")
    run.finished()


def test_only_a_releaser_may_respond(held, server) -> None:
    run, detail, releaser, home = held
    for user in ("watcher", "clerk"):
        with _client(server, user) as someone:
            refused = _respond(someone, detail, "Approve")
        assert refused.status_code == 403, (user, refused.text)
    with _ledger(home) as ledger:
        assert {c.status for c in ledger.communications()} <= {
            "composed",
            "quarantined",
            "suppressed",
        }
    _nothing_sent(home)
    assert _respond(releaser, detail, "Reject", "refused users tested").status_code == 200
    run.finished()


def test_approved_run_delivers_once_and_records_who_released_it(held) -> None:
    run, detail, releaser, home = held
    answer = _respond(releaser, detail, "Approve")
    assert answer.status_code == 200, answer.text
    assert answer.json()["responded_by"] == {"id": "releaser", "name": "releaser"}
    assert run.finished().state == "success"
    with _ledger(home) as ledger:
        comms = ledger.communications()
        sent = [c for c in comms if c.status == "sent"]
        assert sent and not [c for c in comms if c.status in ("composed", "cancelled")]
        for comm in sent:
            kinds = [e.kind for e in ledger.events(comm.communication_id)]
            assert kinds[:2] == ["composed", "released"] and "sent" in kinds
            released = next(e for e in ledger.events(comm.communication_id) if e.kind == "released")
            assert '"released_by":"releaser"' in released.detail.replace(" ", "")
        assert ledger.verify_chain() == []
    mail = mail_by_recipient(home / "mail")
    for comm in (c for c in sent if c.channel == "email"):
        assert len(mail[comm.recipient]) == 1, "delivered once"
    assert again_refused(releaser, detail).status_code == 409, "a release is answered once"


def again_refused(client: httpx.Client, detail: dict) -> httpx.Response:
    return _respond(client, detail, "Reject", "too late")


def test_rejected_run_sends_nothing_and_records_who_and_why(held) -> None:
    run, detail, releaser, home = held
    with _ledger(home) as ledger:
        held_ids = {c.communication_id for c in ledger.communications() if c.status == "composed"}
    answer = _respond(releaser, detail, "Reject", "letter date is wrong")
    assert answer.status_code == 200, answer.text
    dag_run = run.finished()
    assert dag_run.state == "success"  # rejecting is a decision, not a failure
    _nothing_sent(home)
    why = "release rejected by releaser: letter date is wrong"
    with _ledger(home) as ledger:
        comms = {c.communication_id: c for c in ledger.communications()}
        assert {i for i, c in comms.items() if c.status == "cancelled"} == held_ids
        for comm_id in held_ids:
            assert comms[comm_id].reason == why
            event = ledger.events(comm_id)[-1]
            assert event.kind == "cancelled" and why in event.detail and '"by"' in event.detail
        summary = summarize(ledger, "onboarding", dag_run.run_id)
        assert ledger.verify_chain() == []
    assert summary.statuses["cancelled"] == len(held_ids) and summary.sent_by_this_run == 0
    assert summary.reasons["cancelled"] == {why: len(held_ids)}
    assert f"  cancelled: {len(held_ids)}" in summary.lines()
