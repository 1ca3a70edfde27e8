"""Lint against the data: template fields the journey's extract does not produce, and
drafts.

A sample record may hold fields no extract produces: such a template passes a render of
its sample and fails only at compose time. Here every sample is rendered a second time
with only the fields the extract of each journey sending the communication produces (its
columns, run on an empty demo schema, plus its ``details`` lists and what the pipeline
adds), so a field missing from the SQL is named with the template, rendition and
language. Communications whose content differs from their approved version are reported
too (a warning, an error for production).
"""

import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from missiva.journey import Journey
from missiva.paths import SQL_DIR
from missiva.sources.extract import sql_text

#: fields every record has besides its journey's columns (``language`` the extract
#: provides: routing and rendering need it)
PIPELINE_FIELDS: dict[str, str] = {
    "communication_id": "the communication's ledger id (UUID), added by compose",
    "letter_date": "the business day of the run (its data interval's end), added by compose",
    "language": "the customer's language (`it`, `en`), a column every extract has",
}
_MISSING_FIELD = re.compile(r"(?:missing|required) field '([^']+)'")


class ExtractSchemaError(Exception):
    """A journey's extract does not run on the demo schema."""


def extract_columns(journey: Journey) -> frozenset[str]:
    """The fields a record of ``journey`` carries: its extract's columns (the SQL run on
    an empty database of ``include/sql/core_schema.sql``, every parameter bound to NULL),
    its ``details`` lists and :data:`PIPELINE_FIELDS`."""
    return sql_columns(journey.extract_sql) | frozenset(journey.details) | set(PIPELINE_FIELDS)


@cache
def sql_columns(sql_file: Path) -> frozenset[str]:
    """The columns ``sql_file`` selects, run on an empty demo schema."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.connect() as conn:
            conn.connection.executescript((SQL_DIR / "core_schema.sql").read_text("utf-8"))
            statement = text(sql_text(sql_file))
            params = dict.fromkeys(statement.compile().params)
            return frozenset(conn.execute(statement, params).keys())
    except SQLAlchemyError as exc:
        raise ExtractSchemaError(
            f"{sql_file.name} does not run on the demo schema "
            f"(include/sql/core_schema.sql): {getattr(exc, 'orig', exc)}"
        ) from exc
    finally:
        engine.dispose()


def senders(journeys: Iterable[Journey]) -> dict[str, list[Journey]]:
    """Communication -> the journeys whose extract feeds it."""
    found: dict[str, list[Journey]] = {}
    for journey in journeys:
        for communication in journey.communications:
            found.setdefault(communication, []).append(journey)
    return found


def missing_field(message: str) -> str | None:
    """The field a rendering error names as missing, if any."""
    match = _MISSING_FIELD.search(message)
    return match[1] if match else None


def restricted(record: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any] | None:
    """``record`` with only ``fields``; None when it has no other field (nothing to check)."""
    if set(record) <= fields:
        return None
    return {k: v for k, v in record.items() if k in fields}


def draft_message(status: Mapping[str, Any], approved_versions: Iterable[str]) -> str | None:
    """Why a communication (``library.template_status``) is not approved; None if it is."""
    if status["status"] == "approved":
        return None
    version = status["version"]
    if version in set(approved_versions):
        return (
            f"draft: edited after version {version} was approved (its content no longer "
            "matches the approval): bump meta.json's version and approve it, or revert"
        )
    return f"draft: version {version} has no approval (production runs refuse it)"
