"""Test-wide environment: an isolated Airflow home (SQLite) pointing at this repo's DAGs.

Set before anything imports Airflow, so every test (and `dag.test()`) uses it.
"""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from onboarding_extract import records, seeded  # noqa: F401  (shared fixtures)
from renewal_extract import core_db  # noqa: F401  (shared fixture)
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from support import ADMIN_URL, REPO, free_port

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="missiva-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "GX_ANALYTICS_ENABLED": "False",
        # what is sent must not depend on the time of day the tests run at
        "MISSIVA_CONTACT_POLICY": str(REPO / "include" / "contact_policy_no_quiet_hours.toml"),
        # the chain key of every ledger the tests open (a Postgres ledger requires one)
        "MISSIVA_LEDGER_KEY": "missiva-test-ledger-key",
        # the master key wrapping customers' data keys (a Postgres ledger requires one)
        "MISSIVA_MASTER_KEY": "missiva-test-master-key",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) in the session's Airflow home."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture
def journey_env(airflow_db, tmp_path, monkeypatch):
    """A Missiva home with seeded core systems (40 customers, 2026-11-02), a real SMTP
    server, a local SMS provider, and the Airflow Connections pointing at them."""
    from missiva.devtools import sms_sink, smtp_sink
    from missiva.devtools.seed import seed

    home = tmp_path / "home"
    report = seed(home / "core.db", customers=40, seed=7, joined_on=date(2026, 11, 2))
    port = free_port()
    controller = smtp_sink.start("127.0.0.1", port, home / "mail")
    sms_port = free_port()
    sms_server = sms_sink.start("127.0.0.1", sms_port, home / "sms")
    monkeypatch.setenv("MISSIVA_HOME", str(home))
    core = {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{home / 'core.db'}"}}
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": port}
    smtp["extra"] = {"disable_tls": True, "disable_ssl": True}
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_CORE", json.dumps(core))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    sms = {"conn_type": "http", "host": "127.0.0.1", "port": sms_port, "schema": "http"}
    sms["password"] = "demo-token"  # the local sink checks no token
    monkeypatch.setenv("AIRFLOW_CONN_MISSIVA_SMS", json.dumps(sms))
    yield home, report
    controller.stop()
    sms_server.shutdown()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the server's maintenance database; skip/fail if unreachable."""
    engine = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        reason = f"Postgres not reachable at {where}: {str(exc.orig).strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the Postgres tests must run)")
        pytest.skip(f"{reason} (set MISSIVA_TEST_POSTGRES_URL; with CI=true this fails)")
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _forget_installed_secrets():
    """A DAG task run in this process (``dag.test()``) installs the ledger and master keys
    of its Connections: they must not carry over into the next test."""
    from missiva.privacy import master_key
    from missiva.records import chain_key

    yield
    chain_key.install(None)
    master_key.install(None)
