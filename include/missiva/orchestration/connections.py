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
_DRIVERS = {"postgres": "postgresql+psycopg2", "sqlite": "sqlite", "mysql": "mysql"}


def source_url(settings: Settings, conn_id: str = SOURCE_CONN_ID) -> str:
    """The source system's SQLAlchemy URL: the Connection's ``extra.sqlalchemy_url``,
    else built from its fields; the embedded demo database when it is not defined."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        log.warning("connection %s is not defined: using the demo core systems", conn_id)
        return f"sqlite:///{settings.core_db}"
    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return explicit
    return URL.create(
        _DRIVERS.get(conn.conn_type, conn.conn_type),
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
    ).render_as_string(hide_password=False)


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
    conn = Connection.get(conn_id)
    host = conn.host or ""
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


def artifact_store(settings: Settings, conn_id: str = ARCHIVE_CONN_ID) -> ArtifactStore:
    """The archive: S3 from the ``missiva_archive`` Connection (type aws: login/password =
    access key/secret; extra ``bucket``, ``prefix``, ``endpoint_url``, ``region_name``,
    ``retention_mode``, ``retention_days``, ``legal_hold``) when it is defined, else the
    store named by ``MISSIVA_ARCHIVE_URL`` (the local folder by default)."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return open_store(settings.archive_url)
    import boto3

    from missiva.records.store_s3 import S3ArtifactStore, make_client

    extra = conn.extra_dejson
    if not extra.get("bucket"):
        raise ValueError(f"connection {conn_id} needs extra.bucket")
    session = boto3.session.Session(
        aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None
    )
    client = make_client(
        endpoint_url=extra.get("endpoint_url"), region=extra.get("region_name"), session=session
    )
    return S3ArtifactStore(
        client,
        extra["bucket"],
        prefix=extra.get("prefix", ""),
        retention_mode=extra.get("retention_mode"),
        retention_days=extra.get("retention_days"),
        legal_hold=bool(extra.get("legal_hold", False)),
    )
