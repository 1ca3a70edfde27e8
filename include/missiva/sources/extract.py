"""Extract a journey's input records from a source system with a SQL file."""

from collections.abc import Iterable, Iterator, Mapping
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


#: rows fetched from the source (and staged) at a time by a streaming extract
STREAM_BATCH = 1000

#: (column names, rows) of one batch of a streaming extract
Batch = tuple[list[str], list[dict[str, Any]]]


def stream(
    source_url: str,
    sql_file: Path,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
    *,
    batch_size: int = STREAM_BATCH,
) -> Iterator[Batch]:
    """Run ``sql_file`` with the half-open UTC interval [start, end) bound as parameters
    ``interval_start``/``interval_end``, and ``params`` by name (those the SQL uses);
    yield its rows ``batch_size`` at a time from a server-side cursor (one empty batch
    when there are none, for the columns), so memory does not grow with the rows."""
    params = {
        **(params or {}),
        "interval_start": source_time(start),
        "interval_end": source_time(end),
    }
    engine = create_engine(source_url, hide_parameters=True)  # errors: SQL, not values
    try:
        with engine.connect() as conn:
            streaming = conn.execution_options(stream_results=True, yield_per=batch_size)
            result = streaming.execute(text(sql_text(sql_file)), params)
            columns = list(result.keys())
            empty = True
            for rows in result.partitions(batch_size):
                empty = False
                yield columns, [dict(row._mapping) for row in rows]
            if empty:
                yield columns, []
    except DBAPIError as exc:
        raise ExtractError(f"extract {sql_file.name} failed on the source: {exc.orig}") from exc
    except StatementError as exc:  # e.g. a parameter the SQL binds was not given
        raise ExtractError(f"extract {sql_file.name}: {exc.orig}") from exc
    finally:
        engine.dispose()


def extract(
    source_url: str,
    sql_file: Path,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Every row of :func:`stream` in one DataFrame (Python values, ``None`` for NULL)."""
    return _frame(*_collect(stream(source_url, sql_file, start, end, params)))


def _frame(columns: list[str], rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    return frame.where(frame.notna(), None)


def _collect(batches: Iterable[Batch]) -> tuple[list[str], list[dict[str, Any]]]:
    columns: list[str] = []
    rows: list[dict[str, Any]] = []
    for batch_columns, batch in batches:
        columns = batch_columns  # the same in every batch
        rows += batch
    return columns, rows


def extract_journey(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The journey's extract SQL once per set of its :attr:`~Journey.sql_param_sets`
    (each merged over ``params``), the rows concatenated in order."""
    return _frame(*_collect(_stream_journey(source_url, journey, start, end, params or {})))


def _stream_journey(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any],
    batch_size: int = STREAM_BATCH,
) -> Iterator[Batch]:
    for extra in journey.sql_param_sets(params, start, end):
        merged = {**params, **extra}
        yield from stream(
            source_url, journey.extract_sql, start, end, merged, batch_size=batch_size
        )


def stream_records(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
    *,
    batch_size: int = STREAM_BATCH,
) -> Iterator[Batch]:
    """The journey's records for [start, end) with their :attr:`~Journey.details`
    attached, ``batch_size`` at a time: (column names, records) per batch. The details
    of the interval are held grouped by key while the records stream."""
    params, key = params or {}, journey.detail_key
    details = {
        name: group_details(_collect(stream(source_url, sql, start, end, params))[1], key)
        for name, sql in journey.details.items()
    }
    for columns, records in _stream_journey(source_url, journey, start, end, params, batch_size):
        for name, grouped in details.items():
            _attach(records, name, grouped, key)
        yield [*columns, *details], records


def extract_records(
    source_url: str,
    journey: Journey,
    start: datetime,
    end: datetime,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every record of :func:`stream_records`; (column names, records)."""
    return _collect(stream_records(source_url, journey, start, end, params))


def group_details(rows: Iterable[Mapping[str, Any]], key: str) -> dict[Any, list[dict]]:
    """{key value: its ``rows`` in query order, without the key column}."""
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        detail = dict(row)
        grouped.setdefault(detail.pop(key), []).append(detail)
    return grouped


def attach_details(
    records: list[dict[str, Any]], name: str, rows: Iterable[Mapping[str, Any]], key: str
) -> None:
    """Give each record, under ``name``, the ``rows`` whose ``key`` equals its own (in
    query order, without the key column; an empty list when there are none)."""
    _attach(records, name, group_details(rows, key), key)


def _attach(
    records: list[dict[str, Any]], name: str, grouped: Mapping[Any, list[dict]], key: str
) -> None:
    for record in records:
        record[name] = grouped.get(record[key], [])
