"""The fault matrix's one checker and its table.

:func:`check` holds every case to the same invariants once delivery has recovered:

- nothing is left in flight (``composed``, ``sending``, ``deferred``), and the run report
  accounts for every extracted record;
- each server (SMTP, SMS provider, print folder) received exactly the ledger's ``sent``
  set of its channel, once each; a message in ``review`` (outcome unknown) was received
  at most once, and only the case's expected number of communications is in review;
- every ``failed`` communication has a later attempt on another channel (its fallback).

It records the case's row (what the servers got, duplicates, losses) before asserting,
so the table also shows what a failing or expected-to-fail case did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

from missiva.records.keys import fallback_base
from missiva.records.ledger import Ledger
from missiva.records.run_report import summarize
from missiva.records.store import open_store
from missiva.records.workspace import workspace
from missiva.settings import Settings

#: the matrix in table order: case id -> the fault
CASES = {
    "smtp-down": "SMTP server down before the run",
    "smtp-421": "SMTP 421 and disconnect mid-run (after 3 messages)",
    "smtp-550": "SMTP 550 for two recipients",
    "smtp-timeout-before-data": "SMTP stalls the RCPT reply past the client timeout",
    "smtp-timeout-after-data": "SMTP receives the data, stalls the reply past the timeout",
    "smtp-drop-after-data": "SMTP receives the data, drops the connection, no reply",
    "sms-429": "SMS provider 429 (Retry-After) on each first attempt",
    "sms-500": "SMS provider 500 for the whole first run",
    "sms-timeout": "SMS provider accepts, answers after the client timeout",
    "sms-reset": "SMS provider accepts, resets the connection",
    "s3-down-mid-archive": "S3 (SeaweedFS) stopped mid-archive during compose",
    "ledger-dropped": "Postgres ledger connections terminated mid-deliver",
    "kill-before-data": "worker SIGKILLed before the data (RCPT held)",
    "kill-during-data": "worker SIGKILLed during the data",
    "kill-after-data": "worker SIGKILLed after the data, before the reply",
    "kill-after-reply": "worker SIGKILLed after the reply, before the record",
    "kill-during-fallback": "worker SIGKILLed during the fallback of a 550",
}
IN_FLIGHT = ("composed", "sending", "deferred")
ROWS: dict[str, Row] = {}


@dataclass
class Row:
    case: str
    first: str  # what the faulty attempt did
    statuses: Counter
    received: int
    duplicates: int
    lost: int
    problems: list[str]


@dataclass(frozen=True)
class Received:
    """What each server received, by communication id."""

    email: Counter
    sms: Counter
    paper: Counter


def printed(settings: Settings) -> Counter:
    """Letters in the print folder (local, or beside an S3 archive), by communication id."""
    folder = workspace(open_store(settings.archive_url), settings.print_dir, "print")
    return Counter(PurePosixPath(k).stem for k in folder.list_keys() if k.endswith(".pdf"))


def check(
    case: str,
    first: str,
    ledger: Ledger,
    run: tuple[str, str],
    received: Received,
    *,
    expect_review: int = 0,
) -> Row:
    """Record ``case``'s row, then assert the invariants (see the module docstring)."""
    comms = ledger.communications()
    problems: list[str] = []
    statuses = Counter(c.status for c in comms)
    lost = sum(statuses[s] for s in IN_FLIGHT)
    if lost:
        problems.append(f"{lost} left in flight")
    try:
        summary = summarize(ledger, *run)
        if summary.accounted != summary.extracted:
            problems.append(f"accounted {summary.accounted} of {summary.extracted}")
            lost += abs(summary.extracted - summary.accounted)
    except Exception as exc:  # the report refuses a run missing a record
        problems.append(f"run report: {exc}")
        lost += 1
    duplicates = 0
    for channel, got in vars(received).items():
        duplicates += sum(n - 1 for n in got.values() if n > 1)
        sent = {c.communication_id for c in comms if c.channel == channel and c.status == "sent"}
        review = {
            c.communication_id for c in comms if c.channel == channel and c.status == "review"
        }
        missing, unexpected = sent - set(got), set(got) - sent - review
        lost += len(missing)
        if missing:
            problems.append(f"{channel}: {len(missing)} sent per the ledger, never received")
        if unexpected:
            problems.append(f"{channel}: {len(unexpected)} received, not sent per the ledger")
    families: dict[str, list] = {}
    for comm in sorted(comms, key=lambda c: c.created_at):
        families.setdefault(fallback_base(comm.idempotency_key), []).append(comm)
    unrouted = [f[-1] for f in families.values() if f[-1].status == "failed"]
    if unrouted:
        problems.append(f"{len(unrouted)} failed without a fallback")
        lost += len(unrouted)
    if statuses["review"] != expect_review:
        problems.append(f"{statuses['review']} in review, expected {expect_review}")
    if duplicates:
        problems.append(f"{duplicates} duplicate(s) at the servers")
    total = sum(sum(got.values()) for got in vars(received).values())
    row = Row(case, first, statuses, total, duplicates, lost, problems)
    ROWS[case] = row
    assert not problems, f"{case}: " + "; ".join(problems)
    return row


def table(outcomes: dict[str, str]) -> str:
    """The matrix as a Markdown table, in :data:`CASES` order, with each case's pytest
    outcome (``pass``, ``xfail``...)."""
    lines = [
        "| case | fault | faulty attempt | ledger after recovery | received | dup | lost "
        "| result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, fault in CASES.items():
        row, outcome = ROWS.get(case), outcomes.get(case, "not run")
        if row is None:
            lines.append(f"| {case} | {fault} | | | | | | {outcome} |")
            continue
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(row.statuses.items()))
        result = outcome + (f": {'; '.join(row.problems)}" if row.problems else "")
        lines.append(
            f"| {case} | {fault} | {row.first} | {statuses} | {row.received} "
            f"| {row.duplicates} | {row.lost} | {result} |"
        )
    return "\n".join(lines)
