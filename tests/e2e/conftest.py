"""Fixtures of the end-to-end tests that run journeys through an executor."""

import secrets

import pytest
from auditor_fixtures import api_server


@pytest.fixture(scope="module")
def execution_api(airflow_db, tmp_path_factory):
    """An api-server with the execution API that this process's executor workers call,
    at the Makefile's log levels (Missiva's loggers at INFO)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
        env.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
        env.setenv("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow=WARNING task=WARNING")
        root = tmp_path_factory.mktemp("api-server")
        with api_server(airflow_db, root, {"operator": "admin"}, apps="core,execution") as server:
            server.wait_healthy()
            env.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"{server.url}/execution/")
            yield server
