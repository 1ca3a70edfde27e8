"""Airflow Connections resolved into the core's plain settings."""

import logging
import smtplib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

from missiva.channels.sms import SmsSettings
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.privacy import master_key
from missiva.records.store import ArtifactStore, open_store
from missiva.settings import Settings

if TYPE_CHECKING:  # the Amazon provider is imported when the archive is S3
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

log = logging.getLogger(__name__)

SOURCE_CONN_ID = "missiva_core"
SMTP_CONN_ID = "smtp_default"
ARCHIVE_CONN_ID = "missiva_archive"
SMS_CONN_ID = "missiva_sms"
LEDGER_CONN_ID = "missiva_ledger"
# the chain's HMAC key apart from the database's credentials: a database writer lacks it
LEDGER_KEY_CONN_ID = "missiva_ledger_key"


class ConnectionConfigError(ValueError):
    """A Connection is missing or lacks a field the code needs (the message names both)."""


def _required(conn_id: str) -> Connection:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException as exc:
        raise ConnectionConfigError(f"connection {conn_id} is not defined") from exc


def database_url_of(conn: Connection) -> str:
    """The SQLAlchemy URL of a database Connection: ``extra.sqlalchemy_url``, else the one
    the provider's SQL hook of its type builds (``postgres``: the Postgres provider's
    ``PostgresHook``, ``postgresql+psycopg`` with host, port, login, password, schema = the
    database, and its extras ``sqlalchemy_scheme``, ``sqlalchemy_query``, ``iam``)."""
    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return explicit
    if not conn.conn_type or conn.conn_type == "generic":
        raise ConnectionConfigError(
            f"connection {conn.conn_id}: extra.sqlalchemy_url is required "
            f"(or a database conn_type such as postgres with host and schema)"
        )
    if conn.conn_type != "sqlite" and not conn.host:
        raise ConnectionConfigError(f"connection {conn.conn_id}: host is required")
    if not conn.schema:
        raise ConnectionConfigError(f"connection {conn.conn_id}: schema (the database) is required")
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    unbuilt = ConnectionConfigError(
        f"connection {conn.conn_id}: no installed provider builds a SQLAlchemy URL for "
        f"conn_type {conn.conn_type}: set extra.sqlalchemy_url"
    )
    try:  # the hook reads the Connection itself (environment, secrets backends, metadata DB)
        hook = conn.get_hook()
    except AirflowException as exc:  # no provider of this conn_type
        raise unbuilt from exc
    if not isinstance(hook, DbApiHook):
        raise unbuilt
    try:
        url = hook.sqlalchemy_url
    except NotImplementedError as exc:
        raise unbuilt from exc
    return url.render_as_string(hide_password=False)


def source_url(settings: Settings, conn_id: str = SOURCE_CONN_ID) -> str:
    """The source system's SQLAlchemy URL: the Connection's ``extra.sqlalchemy_url``,
    else built from its fields; the embedded demo database when it is not defined."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        log.warning("connection %s is not defined: using the demo core systems", conn_id)
        return f"sqlite:///{settings.core_db}"
    return database_url_of(conn)


def ledger_url(settings: Settings, conn_id: str = LEDGER_CONN_ID) -> str:
    """The ledger's SQLAlchemy URL: the ``missiva_ledger`` Connection (see
    :func:`database_url_of`) when it is defined, else
    ``MISSIVA_LEDGER_URL`` (the local SQLite file by default), as the CLI has it."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return settings.ledger_url
    return database_url_of(conn)


def task_settings() -> Settings:
    """The settings of a task: the environment's, with the ledger of :func:`ledger_url`."""
    settings = Settings.from_env()
    return replace(settings, ledger_url=ledger_url(settings))


def smtp_settings(conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
    """SMTP through the SMTP provider's hook: it reads the Connection (host, port,
    login, password; extra ``disable_ssl``, ``disable_tls``, ``timeout``,
    ``retry_limit``, ``ssl_context``, ``auth_type`` basic or oauth2) and opens and logs
    in each connection; the core builds the messages and sends them on it."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    conn = _required(conn_id)
    if not conn.host:
        raise ConnectionConfigError(f"connection {conn_id}: host is required")
    hook = SmtpHook(smtp_conn_id=conn_id)
    hook.smtp_connection = conn  # its settings, read without connecting

    def connect() -> smtplib.SMTP:
        from airflow.sdk.exceptions import AirflowException

        opened = SmtpHook(smtp_conn_id=conn_id)
        try:
            opened.get_conn()
        except AirflowException as exc:  # connection refused until its retry_limit
            raise smtplib.SMTPConnectError(-1, f"connection {conn_id}: {exc}") from exc
        # the hook has no public accessor for its client (its test_connection reads it too)
        return opened._smtp_client

    return SmtpSettings(
        host=hook.host,
        port=hook.port,
        use_ssl=hook.use_ssl,
        starttls=hook.smtp_starttls,
        user=hook.smtp_user,
        timeout=hook.timeout,
        connect=connect,
    )


def sms_settings(conn_id: str = SMS_CONN_ID) -> SmsSettings:
    """The SMS provider from an HTTP Connection: ``schema`` (http/https, default https),
    ``host``, ``port``, ``password`` = the API token; extra ``timeout`` (seconds) and
    ``allow_fictional`` (accept the numbers reserved for drama, for test providers)."""
    return sms_settings_of(_required(conn_id))


def sms_settings_of(conn: Connection) -> SmsSettings:
    """:func:`sms_settings` of a given Connection."""
    if not conn.host:
        raise ConnectionConfigError(f"connection {conn.conn_id}: host is required")
    host = conn.host
    base_url = host if "://" in host else f"{conn.schema or 'https'}://{host}"
    if conn.port:
        base_url += f":{conn.port}"
    extra = conn.extra_dejson
    return SmsSettings(
        base_url=base_url,
        token=conn.password or "",
        timeout=float(extra.get("timeout", 10.0)),
        allow_fictional=bool(extra.get("allow_fictional", False)),
    )


def channel_providers() -> dict[str, Callable[[], Any]]:
    """Channel -> the loader of its provider settings from its Connection (for the
    channels declared with ``needs_provider``)."""
    return {"email": smtp_settings, "sms": sms_settings}


def install_ledger_key(conn_id: str = LEDGER_KEY_CONN_ID) -> None:
    """Make the password of the ``missiva_ledger_key`` Connection (or secret) the ledger key
    of this process (:mod:`missiva.records.chain_key`); without it, ``MISSIVA_LEDGER_KEY``
    or, for the embedded SQLite ledger only, the demo key."""
    from missiva.records import chain_key

    _install_secret(conn_id, chain_key.install, "the ledger key")


def install_master_key(conn_id: str = master_key.CONN_ID) -> None:
    """Make the password of the ``missiva_master_key`` Connection (or secret) the master key
    wrapping customers' data keys (:mod:`missiva.privacy.master_key`); without it,
    ``MISSIVA_MASTER_KEY`` or, for the embedded SQLite ledger only, the demo key."""
    _install_secret(conn_id, master_key.install, "the master key")


def _install_secret(conn_id: str, install: Callable[[str | None], None], what: str) -> None:
    """Install the password of Connection ``conn_id`` (``None`` when there is no such
    Connection: the installer's own fallbacks apply); a Connection without one is an error."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        install(None)
        return
    if not conn.password:
        raise ConnectionConfigError(f"connection {conn_id}: password ({what}) is required")
    install(conn.password)


def artifact_store(settings: Settings, conn_id: str = ARCHIVE_CONN_ID) -> ArtifactStore:
    """The archive: S3 through the Amazon provider's ``S3Hook`` on the ``missiva_archive``
    Connection (:func:`archive_store_of`) when it is defined, else the store named by
    ``MISSIVA_ARCHIVE_URL`` (the local folder by default)."""
    try:
        Connection.get(conn_id)
    except AirflowNotFoundException:
        return open_store(settings.archive_url)
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return archive_store_of(S3Hook(aws_conn_id=conn_id))


def archive_store_of(hook: "S3Hook") -> ArtifactStore:
    """The S3 archive of an ``aws`` Connection, with the client the hook builds from it:
    its credentials (login/password, ``role_arn``, ``profile_name``... else the standard
    AWS chain), ``endpoint_url``, ``region_name``, ``verify`` and ``config_kwargs``
    (botocore Config, over Missiva's timeouts and retries; path-style addressing with an
    ``endpoint_url``). The bucket is ``extra.bucket`` or, as the S3Hook has it,
    ``extra.service_config.s3.bucket_name``; extra ``prefix``, ``retention_mode``,
    ``retention_days`` and ``legal_hold`` set the store. Nothing is contacted here."""
    from missiva.records.store_s3 import S3ArtifactStore, addressed, client_config

    conn_id = hook.aws_conn_id
    try:
        wrapper = hook.conn_config
    except TypeError as exc:  # botocore's Config refused an option
        raise ConnectionConfigError(f"connection {conn_id}: extra.config_kwargs: {exc}") from exc
    extra = wrapper.extra_config
    bucket = extra.get("bucket") or hook.service_config.get("bucket_name")
    if not bucket:
        raise ConnectionConfigError(
            f"connection {conn_id}: extra.bucket (or extra.service_config.s3.bucket_name) "
            "is required"
        )
    config = client_config()
    if wrapper.botocore_config is not None:
        config = config.merge(wrapper.botocore_config)
    config = addressed(config, wrapper.get_service_endpoint_url("s3"))
    client = hook.get_client_type(region_name=hook.region_name, config=config)
    try:
        return S3ArtifactStore(
            client,
            bucket,
            prefix=extra.get("prefix", ""),
            retention_mode=extra.get("retention_mode"),
            retention_days=extra.get("retention_days"),
            legal_hold=bool(extra.get("legal_hold", False)),
        )
    except ValueError as exc:
        raise ConnectionConfigError(f"connection {conn_id}: extra: {exc}") from exc
