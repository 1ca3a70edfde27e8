"""Data quality gate with Great Expectations Core.

A suite's expectations carry ``meta.level``: ``batch`` failures halt the run before
anything is sent; ``record`` failures quarantine the failing rows, each with the
expectation that failed as its reason. Every journey's records also go through
:func:`missiva.sources.record_checks.record_problems` (control characters, blank names,
addresses that do not fit the window, e-mail addresses SMTP cannot carry).
"""

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from missiva.sources.record_checks import record_problems

log = logging.getLogger(__name__)


class BatchValidationError(Exception):
    """The batch as a whole is unfit; nothing may be sent."""


@dataclass(frozen=True)
class ValidationOutcome:
    valid: list[dict[str, Any]]
    quarantined: dict[int, list[str]] = field(default_factory=dict)  # row_id -> reasons


def describe(expectation: dict[str, Any]) -> str:
    """``expect_x(column): why`` — the reason text recorded for a failure."""
    column = expectation["kwargs"].get("column")
    name = expectation["type"] + (f"({column})" if column else "")
    return f"{name}: {expectation['meta']['why']}"


#: record-level expectations that compare rows with each other: checked over the whole
#: interval, like the batch level; every other record-level one is checked window by window
CROSS_ROW = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)
#: expectations on the table's columns alone: checked on an empty frame of every column
TABLE_SHAPE = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
    }
)
_COLUMN_KWARGS = ("column", "column_list", "column_A", "column_B")


def _whole(expectation: dict[str, Any]) -> bool:
    """Whether ``expectation`` needs every record of the interval at once."""
    return expectation["meta"]["level"] == "batch" or expectation["type"] in CROSS_ROW


def _columns_read(expectations: list[dict[str, Any]], columns: list[str]) -> set[str]:
    """The columns ``expectations`` read (all of them when one has a row condition)."""
    read = {"row_id"}
    for exp in expectations:
        if "row_condition" in exp["kwargs"]:
            return set(columns)
        for name in _COLUMN_KWARGS:
            value = exp["kwargs"].get(name)
            read.update([value] if isinstance(value, str) else value or ())
    return read & set(columns)


class SuiteGate:
    """A journey's suite applied to an interval that need not fit in memory.

    :meth:`check_whole` runs the batch-level and cross-row expectations over every record
    but only the columns they read (those on the table's columns alone, on an empty frame
    of every column); :meth:`check_window` runs the row-wise ones, and the record checks,
    over a window of full records."""

    def __init__(self, suite_file: Path, columns: list[str]) -> None:
        self.suite = json.loads(suite_file.read_text())
        self.columns = columns
        self._context: Any = None
        self.across: dict[int, list[str]] = {}

    def _run(self, frame: pd.DataFrame, expectations: list[dict]) -> list[tuple[dict, Any]]:
        if not expectations:
            return []
        gx = _gx()
        if self._context is None:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            asset = context.data_sources.add_pandas("source").add_dataframe_asset("records")
            self._context = asset.add_batch_definition_whole_dataframe("all")
        batch = self._context.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            gx.ExpectationSuite(name=self.suite["name"], expectations=expectations),
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["row_id"],
            },
        )
        return [(res.expectation_config.to_json_dict(), res) for res in result.results]

    def check_whole(self, records: Iterable[dict[str, Any]]) -> int:
        """Raise :class:`BatchValidationError` on a batch failure; remember the records
        the cross-row expectations quarantine; how many records there are."""
        expectations = [e for e in self.suite["expectations"] if _whole(e)]
        shape = [e for e in expectations if e["type"] in TABLE_SHAPE]
        rest = [e for e in expectations if e["type"] not in TABLE_SHAPE]
        read = _columns_read(rest, self.columns)
        values: dict[str, list] = {c: [] for c in self.columns if c in read}
        count = 0
        for record in records:
            for column, kept in values.items():
                kept.append(record.get(column))
            count += 1
        frame = pd.DataFrame(values)
        pairs = self._run(pd.DataFrame(columns=self.columns), shape) + self._run(frame, rest)
        failures = [
            f"{describe(exp)} ({_observed(res)})"
            for exp, res in pairs
            if exp["meta"]["level"] == "batch" and not res.success
        ]
        if failures:
            raise BatchValidationError(
                f"suite {self.suite['name']!r} failed at batch level, nothing will be sent: "
                + "; ".join(failures)
            )
        self.across = _quarantined(pairs)
        return count

    def check_window(self, records: list[dict[str, Any]]) -> ValidationOutcome:
        """Split a window of records into valid and quarantined (with the cross-row
        quarantines :meth:`check_whole` found among them)."""
        expectations = [e for e in self.suite["expectations"] if not _whole(e)]
        frame = pd.DataFrame.from_records(records, columns=self.columns)
        quarantined = _quarantined(self._run(frame, expectations))
        for record in records:
            row = int(record["row_id"])
            if reasons := [*self.across.get(row, ()), *record_problems(record)]:
                quarantined[row].extend(reasons)
        valid = [r for r in records if int(r["row_id"]) not in quarantined]
        return ValidationOutcome(valid=valid, quarantined=dict(quarantined))


def _gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs a line at INFO for each of ~200 functions its import does not document
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def _quarantined(pairs: list[tuple[dict, Any]]) -> defaultdict[int, list[str]]:
    """row_id -> the record-level expectations it failed."""
    quarantined: defaultdict[int, list[str]] = defaultdict(list)
    for exp, res in pairs:
        if exp["meta"]["level"] == "record" and not res.success:
            if res.exception_info.get("raised_exception"):
                raise BatchValidationError(f"{describe(exp)} could not be evaluated")
            for index in res.result.get("unexpected_index_list") or []:
                quarantined[int(index["row_id"])].append(describe(exp))
    return quarantined


def validate(
    records: list[dict[str, Any]], suite_file: Path, columns: list[str] | None = None
) -> ValidationOutcome:
    """Validate records that fit in memory (``columns``: the first record's when not
    given); raise on batch failure, else split valid/quarantined."""
    if columns is None:
        columns = list(records[0]) if records else []
    gate = SuiteGate(suite_file, columns)
    gate.check_whole(records)
    outcome = gate.check_window(records)
    log.info(
        "validated %d records: %d valid, %d quarantined",
        len(records),
        len(outcome.valid),
        len(outcome.quarantined),
    )
    return outcome


def _observed(result: Any) -> str:
    if result.exception_info.get("raised_exception"):
        return result.exception_info.get("exception_message") or "could not be evaluated"
    details = result.result
    for key in ("details", "observed_value", "unexpected_percent"):
        if details.get(key) is not None:
            return f"{key}: {details[key]}"
    return "failed"
