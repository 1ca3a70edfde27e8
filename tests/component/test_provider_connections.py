"""Missiva's Connections read as Airflow users expect, through the providers' hooks: e-mail
through the SMTP provider's ``SmtpHook`` (a real SMTP server that requires a login), the
archive through the Amazon provider's ``S3Hook`` (its client settings here; against S3 in
tests/integration), the ledger through ``missiva_ledger``; and the team stack's
docker-compose.yaml values fed through that same code.

Connections are given as ``AIRFLOW_CONN_*`` variables, the first place Airflow looks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from test_channels_smtp import SENDER, mail
from unit.test_docker_compose import airflow_services, environment, load_compose

from missiva.channels import ChannelConfigurationError, TransientFailure
from missiva.channels.smtp import SmtpAdapter
from missiva.orchestration import connections
from missiva.records.store_s3 import DEFAULT_CONNECT_TIMEOUT, S3ArtifactStore
from missiva.settings import Settings

LOGIN, PASSWORD = "missiva", "s3cret-relay-password"


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Connections and settings a test gives."""
    for key in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "MISSIVA_", "AWS_"))]:
        monkeypatch.delenv(key)


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


class _Logins:
    """An aiosmtpd authenticator accepting one login; records every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((mechanism, login))
        return AuthResult(success=(login, password) == (LOGIN, PASSWORD), handled=False)


@pytest.fixture
def relay(smtp_server_factory) -> Iterator[tuple[Any, _Logins]]:
    """A real SMTP server that refuses mail without a login (AUTH over plain text: it is
    local)."""
    logins = _Logins()
    options = {"authenticator": logins, "auth_required": True, "auth_require_tls": False}
    with smtp_server_factory(**options) as server:
        yield server, logins


def _smtp_connection(monkeypatch, port: int, password: str = PASSWORD) -> None:
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "login": LOGIN,
        "password": password,
        "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 5, "retry_limit": 0},
    }
    _connection(monkeypatch, connections.SMTP_CONN_ID, conn)


def test_email_goes_out_through_the_smtp_hook_logged_in_with_the_connection(
    relay, monkeypatch
) -> None:
    server, logins = relay
    _smtp_connection(monkeypatch, server.port)
    settings = connections.smtp_settings()
    assert (settings.host, settings.port, settings.user) == ("127.0.0.1", server.port, LOGIN)
    assert settings.password == "", "the secret stays with the hook"
    with SmtpAdapter(settings, SENDER) as smtp:
        smtp.send(mail(1))
        smtp.send(mail(2))
    assert [m.content for m in server.handler.messages] == [mail(1).payload, mail(2).payload]
    assert len(server.handler.sessions) == 1, "one connection for the batch"
    assert [login for _, login in logins.attempts] == [LOGIN]


def test_a_wrong_smtp_password_is_a_configuration_error(relay, monkeypatch) -> None:
    server, logins = relay
    _smtp_connection(monkeypatch, server.port, password="wrong")
    smtp = SmtpAdapter(connections.smtp_settings(), SENDER)
    with pytest.raises(ChannelConfigurationError, match="SMTP login refused"), smtp:
        pass
    assert logins.attempts and server.handler.messages == []


def test_an_smtp_server_down_is_transient(unused_port, monkeypatch) -> None:
    _smtp_connection(monkeypatch, unused_port)
    smtp = SmtpAdapter(connections.smtp_settings(), SENDER)
    with pytest.raises(TransientFailure, match="SMTP server unreachable"), smtp:
        pass


def test_a_missing_smtp_connection_is_named() -> None:
    with pytest.raises(connections.ConnectionConfigError, match="smtp_default is not defined"):
        connections.smtp_settings()


def test_tasks_use_the_ledger_connection_and_the_cli_variable_otherwise(monkeypatch) -> None:
    cli_url = "sqlite:////tmp/cli-ledger.db"
    monkeypatch.setenv("MISSIVA_LEDGER_URL", cli_url)
    assert connections.task_settings().ledger_url == cli_url
    ledger = {"conn_type": "postgres", "host": "db", "port": 5432, "login": "m", "password": "p"}
    _connection(monkeypatch, connections.LEDGER_CONN_ID, ledger | {"schema": "ledger"})
    assert connections.task_settings().ledger_url == "postgresql+psycopg://m:p@db:5432/ledger"
    assert Settings.from_env().ledger_url == cli_url, "the CLI keeps its variable"
    _connection(monkeypatch, connections.LEDGER_CONN_ID, ledger)
    with pytest.raises(connections.ConnectionConfigError, match="missiva_ledger: schema"):
        connections.task_settings()


def test_the_archive_client_is_the_s3_hooks_with_missivas_timeouts(monkeypatch) -> None:
    """The hook's client: the Connection's keys, endpoint and region; its config_kwargs
    over Missiva's timeouts and retries (kept where the Connection says nothing)."""
    conn = {
        "conn_type": "aws",
        "login": "AKIAEXAMPLE",
        "password": "secret-example",
        "extra": {
            "endpoint_url": "http://s3.internal:8333",
            "region_name": "eu-south-1",
            "config_kwargs": {"read_timeout": 7},
            "service_config": {"s3": {"bucket_name": "archive"}},
            "prefix": "missiva",
        },
    }
    _connection(monkeypatch, connections.ARCHIVE_CONN_ID, conn)
    store = connections.artifact_store(Settings.from_env())
    assert isinstance(store, S3ArtifactStore)
    assert store.location == "s3://archive/missiva"
    client = store.client
    assert client.meta.endpoint_url == "http://s3.internal:8333"
    assert client.meta.region_name == "eu-south-1"
    credentials = client._request_signer._credentials  # no public accessor
    assert (credentials.access_key, credentials.secret_key) == ("AKIAEXAMPLE", "secret-example")
    config = client.meta.config
    assert (config.read_timeout, config.connect_timeout) == (7, DEFAULT_CONNECT_TIMEOUT)
    assert config.retries["total_max_attempts"] == 3
    assert config.s3["addressing_style"] == "path"
    assert "Airflow" in config.user_agent_extra, "built by the provider's hook"


@pytest.mark.parametrize("service", ["airflow-worker", "airflow-scheduler", "airflow-apiserver"])
def test_compose_connections_and_settings_pass_the_codes_own_parsing(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every AIRFLOW_CONN_* and MISSIVA_* value of the stack, read by the code that reads
    them in a task (Airflow's Connection lookup, then Missiva's parsing): fails where
    the code would refuse them, fall back to a demo default, or need a missing driver."""
    from sqlalchemy import create_engine

    compose = load_compose()
    env = environment(airflow_services(compose)[service])
    for key, value in env.items():
        if key.startswith(("AIRFLOW_CONN_", "MISSIVA_")):
            monkeypatch.setenv(key, str(value))
    for conn_id in (
        connections.SOURCE_CONN_ID,
        connections.LEDGER_CONN_ID,
        connections.ARCHIVE_CONN_ID,
        connections.SMTP_CONN_ID,
        connections.SMS_CONN_ID,
    ):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, f"{service}: {conn_id} not defined"
    settings = Settings.from_env()
    ledger = connections.task_settings().ledger_url
    assert ledger == settings.ledger_url, f"{service}: the CLI and the tasks see two ledgers"

    for what, url in (("core systems", connections.source_url(settings)), ("ledger", ledger)):
        engine = create_engine(url)  # imports the driver; connects to nothing
        try:
            assert engine.dialect.name == "postgresql", f"{service}: {what} on {url}"
            assert engine.url.host == "postgres", f"{service}: {what} not on the stack's Postgres"
        finally:
            engine.dispose()

    store = connections.artifact_store(settings)
    assert isinstance(store, S3ArtifactStore), f"{service}: the archive is not S3"
    endpoint = urlsplit(store.client.meta.endpoint_url)
    assert (endpoint.hostname, endpoint.port) == ("s3", 8333)

    smtp = connections.smtp_settings()
    assert (smtp.host, smtp.port, smtp.use_ssl, smtp.starttls) == ("smtp", 1025, False, False)
    sms = connections.sms_settings()
    assert sms.base_url == "http://sms:8026"
    sink = compose["services"]["sms"]
    assert "--port 8026" in sink["command"][-1]


def test_a_postgres_source_connection_uses_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "postgres", "host": "db", "login": "u", "password": "p"}
    _connection(monkeypatch, connections.SOURCE_CONN_ID, {**conn, "schema": "core"})
    assert connections.source_url(Settings.from_env()) == "postgresql+psycopg://u:p@db/core"
    _connection(monkeypatch, connections.SOURCE_CONN_ID, conn)
    with pytest.raises(connections.ConnectionConfigError, match="missiva_core: schema"):
        connections.source_url(Settings.from_env())


def test_the_postgres_providers_hook_builds_the_url_with_the_connections_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = {"conn_type": "postgres", "host": "db", "port": 6432, "login": "u", "schema": "core"}
    extra = {"sqlalchemy_scheme": "postgresql+psycopg", "sqlalchemy_query": {"sslmode": "require"}}
    _connection(monkeypatch, connections.SOURCE_CONN_ID, conn | {"extra": extra})
    url = connections.source_url(Settings.from_env())
    assert url == "postgresql+psycopg://u@db:6432/core?sslmode=require"


def test_a_database_type_without_its_provider_asks_for_the_url(monkeypatch) -> None:
    """No MySQL provider is installed: the message names the Connection and the field
    that says the URL; given that field, it is used as it is."""
    conn = {"conn_type": "mysql", "host": "db", "login": "u", "schema": "core"}
    _connection(monkeypatch, connections.SOURCE_CONN_ID, conn)
    with pytest.raises(
        connections.ConnectionConfigError, match=r"missiva_core: .*mysql: set extra\.sqlalchemy_url"
    ):
        connections.source_url(Settings.from_env())
    explicit = "mysql+pymysql://u@db/core"
    _connection(
        monkeypatch, connections.SOURCE_CONN_ID, conn | {"extra": {"sqlalchemy_url": explicit}}
    )
    assert connections.source_url(Settings.from_env()) == explicit


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"endpoint_url": "http://s3:8333"}, "missiva_archive: extra.bucket"),
        ({"bucket": "b", "retention_mode": "forever"}, "missiva_archive: extra: retention_mode"),
        ({"bucket": "b", "config_kwargs": {"no_such_option": 1}}, "extra.config_kwargs"),
    ],
)
def test_a_wrong_archive_connection_names_the_connection_and_field(
    monkeypatch: pytest.MonkeyPatch, extra: dict, message: str
) -> None:
    _connection(monkeypatch, connections.ARCHIVE_CONN_ID, {"conn_type": "aws", "extra": extra})
    with pytest.raises(connections.ConnectionConfigError, match=message):
        connections.artifact_store(Settings.from_env())
