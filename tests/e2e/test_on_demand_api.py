"""Triggering on_demand_document through a real ``airflow api-server`` (REST API v2):
a JWT from ``POST /auth/token``, a bad request answered 400 naming the param (no run
created), a good one accepted with its validated params. No scheduler is needed to see
that the run was created; the run itself is tested in ``test_on_demand_document_dag.py``.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auditor_fixtures import ApiServer, api_server

pytestmark = pytest.mark.e2e
RUNS = "/api/v2/dags/on_demand_document/dagRuns"
GOOD = {"customer_id": "C000021", "document_type": "policy_certificate", "channel": "email"}


@pytest.fixture(scope="module")
def server(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "dags", "reserialize"], check=True, capture_output=True)
    root = tmp_path_factory.mktemp("missiva-on-demand-api")
    with api_server(airflow_db, root, {"operator": "admin"}) as running:
        running.wait_healthy()
        yield running


@pytest.fixture(scope="module")
def client(server: ApiServer) -> Iterator[httpx.Client]:
    password = server.passwords["operator"]
    token = httpx.post(
        f"{server.url}/auth/token", json={"username": "operator", "password": password}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        yield http


def _trigger(client: httpx.Client, conf: dict) -> httpx.Response:
    return client.post(RUNS, json={"logical_date": None, "conf": conf})


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({**GOOD, "customer_id": "21; DROP TABLE customers"}, "customer_id"),
        ({**GOOD, "document_type": "bank_statement"}, "document_type"),
        ({**GOOD, "channel": "fax"}, "channel"),
        ({**GOOD, "policy_id": "../../etc/passwd"}, "policy_id"),
        ({"document_type": "policy_certificate"}, "customer_id"),
        ({**GOOD, "customer_id": GOOD["customer_id"] + "\n"}, "customer_id"),
        ({**GOOD, "policy_id": "P0000001\n"}, "policy_id"),
        ({**GOOD, "request_id": "x\n"}, "request_id"),
    ],
    ids=[
        "customer-pattern",
        "document-enum",
        "channel-enum",
        "policy-pattern",
        "missing",
        "customer-trailing-newline",
        "policy-trailing-newline",
        "request-trailing-newline",
    ],
)
def test_bad_params_are_rejected_before_anything_runs(client, conf, param) -> None:
    before = client.get(RUNS).json()["total_entries"]
    response = _trigger(client, conf)
    assert response.status_code == 400, response.text
    assert param in response.json()["detail"]
    assert client.get(RUNS).json()["total_entries"] == before, "no run was created"


def test_good_request_creates_a_run_with_its_params(client) -> None:
    response = _trigger(client, GOOD)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["state"] == "queued"
    assert run["conf"] == GOOD
    created = client.get(f"{RUNS}/{run['dag_run_id']}")
    assert created.status_code == 200 and created.json()["conf"] == GOOD
