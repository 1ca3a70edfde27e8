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


def _run_suite(frame: pd.DataFrame, suite: dict[str, Any]) -> list[tuple[dict, Any]]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs a line at INFO for each of ~200 functions its import does not document
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("source")
        .add_dataframe_asset("records")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(
        gx.ExpectationSuite(name=suite["name"], expectations=suite["expectations"]),
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"]},
    )
    return [(res.expectation_config.to_json_dict(), res) for res in result.results]


def validate(
    records: list[dict[str, Any]], suite_file: Path, columns: list[str] | None = None
) -> ValidationOutcome:
    """Validate extracted records; raise on batch failure, else split valid/quarantined."""
    suite = json.loads(suite_file.read_text())
    frame = pd.DataFrame.from_records(records, columns=columns)
    pairs = _run_suite(frame, suite)
    batch_failures = [
        f"{describe(exp)} ({_observed(res)})"
        for exp, res in pairs
        if exp["meta"]["level"] == "batch" and not res.success
    ]
    if batch_failures:
        raise BatchValidationError(
            f"suite {suite['name']!r} failed at batch level, nothing will be sent: "
            + "; ".join(batch_failures)
        )
    quarantined: dict[int, list[str]] = defaultdict(list)
    for exp, res in pairs:
        if exp["meta"]["level"] == "record" and not res.success:
            if res.exception_info.get("raised_exception"):
                raise BatchValidationError(f"{describe(exp)} could not be evaluated")
            for index in res.result.get("unexpected_index_list") or []:
                quarantined[int(index["row_id"])].append(describe(exp))
    for record in records:
        if problems := record_problems(record):
            quarantined[int(record["row_id"])].extend(problems)
    valid = [r for r in records if int(r["row_id"]) not in quarantined]
    log.info(
        "validated %d records: %d valid, %d quarantined", len(records), len(valid), len(quarantined)
    )
    return ValidationOutcome(valid=valid, quarantined=dict(quarantined))


def _observed(result: Any) -> str:
    if result.exception_info.get("raised_exception"):
        return result.exception_info.get("exception_message") or "could not be evaluated"
    details = result.result
    for key in ("details", "observed_value", "unexpected_percent"):
        if details.get(key) is not None:
            return f"{key}: {details[key]}"
    return "failed"
