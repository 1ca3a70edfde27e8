"""Airflow Connections resolved into the core's plain settings."""

import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy.engine import URL

from missiva.channels.sms import SmsSettings
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.records.store import ArtifactStore, open_store
from missiva.settings import Settings

log = logging.getLogger(__name__)

SOURCE_CONN_ID = "missiva_core"
SMTP_CONN_ID = "smtp_default"
ARCHIVE_CONN_ID = "missiva_archive"
SMS_CONN_ID = "missiva_sms"
LEDGER_KEY_CONN_ID = "missiva_ledger"
# psycopg 3 is the pinned Postgres driver (psycopg2 is not installed)
_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
    "mysql": "mysql",
}


class ConnectionConfigError(ValueError):
    """A Connection is missing or lacks a field the code needs (the message names both)."""


def _required(conn_id: str) -> Connection:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException as exc:
        raise ConnectionConfigError(f"connection {conn_id} is not defined") from exc


def source_url_of(conn: Connection) -> str:
    """The SQLAlchemy URL of a source Connection: ``extra.sqlalchemy_url``, else built
    from its type (``postgres`` -> ``postgresql+psycopg``), host, port, login, password
    and schema (the database)."""
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
    return URL.create(
        _DRIVERS.get(conn.conn_type, conn.conn_type),
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
    ).render_as_string(hide_password=False)


def source_url(settings: Settings, conn_id: str = SOURCE_CONN_ID) -> str:
    """The source system's SQLAlchemy URL: the Connection's ``extra.sqlalchemy_url``,
    else built from its fields; the embedded demo database when it is not defined."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        log.warning("connection %s is not defined: using the demo core systems", conn_id)
        return f"sqlite:///{settings.core_db}"
    return source_url_of(conn)


def smtp_settings(conn_id: str = SMTP_CONN_ID) -> SmtpSettings:
    """SMTP settings from the SMTP provider's hook, which reads the Connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    hook = SmtpHook(smtp_conn_id=conn_id)
    hook.smtp_connection = hook.get_connection(conn_id)  # read settings without connecting
    return SmtpSettings(
        host=hook.host,
        port=hook.port,
        use_ssl=hook.use_ssl,
        starttls=hook.smtp_starttls,
        user=hook.smtp_user,
        password=hook.smtp_password,
        timeout=hook.timeout,
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
    """Make the password of the ``missiva_ledger`` Connection (or secret) the ledger key
    of this process (:mod:`missiva.records.chain_key`); without it, ``MISSIVA_LEDGER_KEY``
    or, for the embedded SQLite ledger only, the demo key."""
    from missiva.records import chain_key

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        chain_key.install(None)
        return
    if not conn.password:
        raise ConnectionConfigError(f"connection {conn_id}: password (the ledger key) is required")
    chain_key.install(conn.password)


def artifact_store(settings: Settings, conn_id: str = ARCHIVE_CONN_ID) -> ArtifactStore:
    """The archive: S3 from the ``missiva_archive`` Connection (:func:`archive_store_of`)
    when it is defined, else the store named by ``MISSIVA_ARCHIVE_URL`` (the local folder
    by default)."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return open_store(settings.archive_url)
    return archive_store_of(conn)


def archive_store_of(conn: Connection) -> ArtifactStore:
    """The S3 archive of an ``aws`` Connection: login/password = access key/secret (else
    the standard AWS chain); the bucket from ``extra.bucket`` or, as the Amazon
    provider's S3Hook has it, ``extra.service_config.s3.bucket_name``; extra
    ``endpoint_url``, ``region_name``, ``config_kwargs`` (botocore Config, e.g.
    ``{"signature_version": "unsigned", "s3": {"addressing_style": "path"}}``),
    ``prefix``, ``retention_mode``, ``retention_days``, ``legal_hold``. Nothing is
    contacted here."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    from missiva.records.store_s3 import S3ArtifactStore, client_config, make_client

    extra = conn.extra_dejson
    service = (extra.get("service_config") or {}).get("s3") or {}
    bucket = extra.get("bucket") or service.get("bucket_name")
    if not bucket:
        raise ConnectionConfigError(
            f"connection {conn.conn_id}: extra.bucket (or extra.service_config.s3.bucket_name) "
            "is required"
        )
    config = client_config()
    kwargs = dict(extra.get("config_kwargs") or {})
    if kwargs:
        if str(kwargs.get("signature_version", "")).lower() == "unsigned":
            kwargs["signature_version"] = UNSIGNED
        try:
            config = config.merge(Config(**kwargs))
        except TypeError as exc:
            raise ConnectionConfigError(
                f"connection {conn.conn_id}: extra.config_kwargs: {exc}"
            ) from exc
    session = boto3.session.Session(
        aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None
    )
    try:
        client = make_client(
            endpoint_url=extra.get("endpoint_url"),
            region=extra.get("region_name"),
            config=config,
            session=session,
        )
        return S3ArtifactStore(
            client,
            bucket,
            prefix=extra.get("prefix", ""),
            retention_mode=extra.get("retention_mode"),
            retention_days=extra.get("retention_days"),
            legal_hold=bool(extra.get("legal_hold", False)),
        )
    except ValueError as exc:
        raise ConnectionConfigError(f"connection {conn.conn_id}: extra: {exc}") from exc
