"""Extract a journey's input records from a source system with a SQL file."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, StatementError

from missiva.journey import Journey, source_time


class ExtractError(Exception):
    """The source could not answer the extract query (missing table, column, ...)."""


@lru_cache(maxsize=8)
def _sql_templates(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - SQL from the repository, never customer data
    )


def sql_text(sql_file: Path) -> str:
    """The statement of ``sql_file``, its Jinja macros (``{% from "_x.sql" import m %}``,
    shared pieces in the same folder) expanded. Only static SQL is rendered: values are
    always bound parameters."""
    return _sql_templates(sql_file.parent).get_template(sql_file.name).render()


def extract(
    source_url: str,
    sql_file: Path,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``sql_file`` with the half-open UTC interval [start, end) bound as parameters
    ``interval_start``/``interval_end``, and ``params`` by name (those the SQL uses)."""
    params = {
        **(params or {}),
        "interval_start": source_time(start),
        "interval_end": source_time(end),
    }
    engine = create_engine(source_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql_text(sql_file)), params)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    except DBAPIError as exc:
        raise ExtractError(f"extract {sql_file.name} failed on the source: {exc.orig}") from exc
    except StatementError as exc:  # e.g. a parameter the SQL binds was not given
        raise ExtractError(f"extract {sql_file.name}: {exc.orig}") from exc
    finally:
        engine.dispose()
    return frame.astype(object).where(frame.notna(), None)


def extract_journey(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The journey's extract SQL once per set of its :attr:`~Journey.sql_param_sets`
    (each merged over ``params``), the rows concatenated in order."""
    params = params or {}
    frames = [
        extract(source_url, journey.extract_sql, start, end, {**params, **extra})
        for extra in journey.sql_param_sets(params, start, end)
    ]
    rows = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0]


def extract_records(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The journey's records for [start, end) with their :attr:`~Journey.details`
    attached; (column names, records)."""
    frame = extract_journey(source_url, journey, start, end, params)
    records = frame.to_dict(orient="records")
    columns = list(frame.columns)
    for name, sql_file in journey.details.items():
        details = extract(source_url, sql_file, start, end, params)
        attach_details(records, name, details.to_dict(orient="records"), journey.detail_key)
        columns.append(name)
    return columns, records


def attach_details(
    records: list[dict[str, Any]], name: str, rows: Iterable[Mapping[str, Any]], key: str
) -> None:
    """Give each record, under ``name``, the ``rows`` whose ``key`` equals its own (in
    query order, without the key column; an empty list when there are none)."""
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        detail = dict(row)
        grouped.setdefault(detail.pop(key), []).append(detail)
    for record in records:
        record[name] = grouped.get(record[key], [])
