"""Delivery reports over the HTTP route (``POST /events/ingest`` of the auditor UI): the
route's app lives in missiva.orchestration, which imports Airflow, so this is the
component tier; the ingest logic and the CLI are unit-tested in
tests/unit/test_delivery_reports.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ledger_fixtures import DOMAIN, cid, message_id, reported_emails

from missiva.records.ledger import Ledger


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db_path: Path) -> Iterator[Ledger]:
    with reported_emails(db_path) as ledger:
        yield ledger


# --- the HTTP route --------------------------------------------------------------------


@pytest.fixture
def app(db_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from missiva.orchestration import auditor_data, auditor_ui

    monkeypatch.setenv("MISSIVA_LEDGER_URL", f"sqlite:///{db_path}")
    monkeypatch.setenv("MISSIVA_MESSAGE_ID_DOMAIN", DOMAIN)
    yield auditor_ui.app
    auditor_ui.app.dependency_overrides.clear()
    auditor_data._ledger.cache_clear()


def signed_in(app: Any, role: str) -> None:
    """Requests come from the Airflow user ``esp`` with SimpleAuthManager ``role`` (the
    token check is skipped; the permission check is the configured auth manager's own)."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    create_auth_manager()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="esp", role=role)


def post(app: Any, body: bytes | str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://missiva") as client:
            return await client.post("/events/ingest", content=body, headers=headers)

    return asyncio.run(go())


JSON = {"content-type": "application/json"}


def test_http_refuses_anonymous_posts(app: Any, ledger: Ledger) -> None:
    body = json.dumps({"communication_id": cid(1), "event": "hard_bounce"})
    response = post(app, body, **JSON)
    assert response.status_code == 401
    assert ledger.get(cid(1)).status == "sent"


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_http_refuses_users_without_the_permission(app: Any, ledger: Ledger, role: str) -> None:
    signed_in(app, role)
    body = json.dumps({"communication_id": cid(1), "event": "hard_bounce"})
    response = post(app, body, **JSON)
    assert response.status_code == 403
    assert "Missiva delivery events" in response.json()["detail"]
    assert ledger.get(cid(1)).status == "sent"


def test_http_ingests_for_a_user_with_the_permission(app: Any, ledger: Ledger) -> None:
    signed_in(app, "op")
    reports = [
        {"message_id": message_id(1), "event": "hard_bounce", "reason": "550"},
        {"communication_id": cid(2), "event": "opened"},
    ]
    response = post(app, json.dumps(reports), **JSON)
    assert response.status_code == 422
    assert response.json() == {
        "applied": 1,
        "duplicate": 0,
        "rejected": 1,
        "rejections": [{"index": 1, "reason": response.json()["rejections"][0]["reason"]}],
    }
    assert "'opened' is not one of" in response.json()["rejections"][0]["reason"]
    assert ledger.get(cid(1)).status == "bounced"
    assert json.loads(ledger.events(cid(1))[-1].detail)["source"] == "http:esp"
    again = post(app, json.dumps(reports[0]), **{"content-type": "application/json; charset=utf-8"})
    assert again.status_code == 200
    assert again.json() == {"applied": 0, "duplicate": 1, "rejected": 0, "rejections": []}
    assert post(app, "{nope", **JSON).status_code == 400
    assert post(app, json.dumps(reports[0]), **{"content-type": "text/plain"}).status_code == 415
    assert ledger.verify_chain() == []
