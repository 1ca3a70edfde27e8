"""The run summary: every extracted record accounted for, with reasons.

What this run did is kept apart from what earlier runs of the same interval did (a
re-run reads "sent by this run: 0", not the earlier run's count again), one reason is one
line whatever order its channels were tried in, and portal notices read as sentences.
Communications awaiting review (outcome unknown) are counted apart, with the command
that settles them: a run with unresolved review items is not a success.
"""

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Row

from missiva.records.keys import COPY_MARK, NOTICE_MARK, fallback_base
from missiva.records.ledger import Ledger
from missiva.records.status import FINAL, IN_FLIGHT, REVIEW, SENT


class AccountingError(Exception):
    """The ledger does not account for every extracted record."""


@dataclass
class RunSummary:
    dag_id: str
    run_id: str
    interval: str
    extracted: int
    statuses: Counter = field(default_factory=Counter)
    sent_by_channel: Counter = field(default_factory=Counter)
    fallbacks: Counter = field(default_factory=Counter)
    copies: Counter = field(default_factory=Counter)
    handled_before: int = 0  # records another run (of any business key) handled
    #: portal notices by (channel or None, status, reason when not sent)
    notices: Counter = field(default_factory=Counter)
    reasons: dict[str, Counter] = field(default_factory=dict)
    #: the run's communications (notices and copies included) whose outcome is unknown
    awaiting_review: list[str] = field(default_factory=list)

    @property
    def sent_by_this_run(self) -> int:
        return self.statuses[SENT]

    def notices_by_channel(self) -> Counter:
        """Portal notices by "channel: status" (``none`` when no channel was possible)."""
        counts: Counter = Counter()
        for (channel, status, _), n in self.notices.items():
            counts[f"{channel or 'none'}: {status}"] += n
        return counts

    @property
    def accounted(self) -> int:
        return sum(self.statuses.values()) + self.handled_before

    def as_dict(self) -> dict:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "interval": self.interval,
            "extracted": self.extracted,
            "statuses": dict(self.statuses),
            "sent_by_channel": dict(self.sent_by_channel),
            "fallbacks": dict(self.fallbacks),
            "copies": dict(self.copies),
            "handled_before": self.handled_before,
            "portal_notices": dict(self.notices_by_channel()),
            "reasons": {status: dict(c) for status, c in self.reasons.items()},
            "sent_by_this_run": self.sent_by_this_run,
            "awaiting_review": list(self.awaiting_review),
        }

    def lines(self) -> list[str]:
        out = [
            f"Run {self.run_id} of {self.dag_id}, data interval {self.interval}",
            f"  records extracted: {self.extracted}",
            f"  sent by this run: {self.sent_by_this_run}" + _by_channel(self.sent_by_channel),
        ]
        if self.fallbacks:
            out.append(
                "  of which by fallback: "
                + ", ".join(f"{k}: {n}" for k, n in self.fallbacks.items())
            )
        if self.handled_before:
            out.append(
                f"  already handled by an earlier run: {self.handled_before} (not sent again)"
            )
        if self.copies:
            out.append("  copies: " + ", ".join(f"{k}: {n}" for k, n in self.copies.items()))
        if self.notices:
            out.append(f"  portal notices: {_notice_sentences(self.notices)}")
        for status in [s for s in FINAL + IN_FLIGHT if s != SENT]:
            if self.statuses[status]:
                out.append(f"  {status}: {self.statuses[status]}")
                out += [f"    {n} x {reason}" for reason, n in self.reasons[status].most_common()]
        if self.awaiting_review:
            out.append(
                f"  AWAITING REVIEW: {len(self.awaiting_review)} communication(s) whose outcome "
                f"is unknown: `missiva review list --run {self.run_id}`, then "
                "`missiva review resolve ID --sent|--resend|--failed --why ...`"
            )
        return out


def _by_channel(counts: Counter) -> str:
    listed = ", ".join(f"{ch}: {n}" for ch, n in sorted(counts.items()) if n)
    return f" ({listed})" if listed else ""


def _notice_sentences(notices: Counter) -> str:
    """E.g. "3 sent by email; 12 not sent (suppressed: no consented channel ...)"."""
    parts = []
    for (channel, status, reason), n in sorted(notices.items(), key=str):
        if status == SENT:
            parts.append(f"{n} sent by {channel}")
        else:
            via = f" by {channel}" if channel else ""
            parts.append(f"{n} not sent{via} ({status}{f': {reason}' if reason else ''})")
    return "; ".join(parts)


#: "<what>: <channel>: <why>; <channel>: <why>": the channels tried, in any order
_PER_CHANNEL = re.compile(r"(?P<head>[^:;]+: )(?P<items>\w+: [^;]+(?:; \w+: [^;]+)+)")


def grouped_reason(reason: str) -> str:
    """``reason`` with its per-channel parts in one order, so that the same reason is one
    line of the report whatever order the channels were tried in."""
    match = _PER_CHANNEL.fullmatch(reason)
    if match is None:
        return reason
    return match["head"] + "; ".join(sorted(match["items"].split("; ")))


#: what the report reads of each communication (not the whole row: a run may have millions)
REPORT_COLUMNS = (
    "communication_id",
    "idempotency_key",
    "status",
    "channel",
    "reason",
    "created_at",
)


def _made(comm: Row) -> tuple:
    """When an attempt was made (an original before its fallbacks at the same instant)."""
    return comm.created_at, comm.idempotency_key != fallback_base(comm.idempotency_key)


def summarize(ledger: Ledger, dag_id: str, run_id: str) -> RunSummary:
    """Summarise one run; raise if any extracted record is missing from the ledger.

    The run's communications are those it recorded (with their fallbacks, copies and
    notices, which carry its ids); what another run of the same business key recorded
    is in the run's ``handled_before``."""
    run = ledger.get_run(dag_id, run_id)
    if run is None:
        raise AccountingError(f"no run {run_id!r} of {dag_id!r} in the ledger")
    interval = f"[{run.interval_start:%Y-%m-%d %H:%M}, {run.interval_end:%Y-%m-%d %H:%M}) UTC"
    summary = RunSummary(
        dag_id=dag_id,
        run_id=run_id,
        interval=interval,
        extracted=run.extracted,
        handled_before=run.handled_before,
    )
    # each content's attempts in the order they were made: the original, then its
    # fallbacks; the last one is the outcome that counts
    attempts: dict[str, list[Row]] = {}
    own = list(
        ledger.scope_rows(
            run.journey, run.business_key, REPORT_COLUMNS, dag_id=dag_id, run_id=run_id
        )
    )
    summary.awaiting_review = [c.communication_id for c in own if c.status == REVIEW]
    for comm in sorted(own, key=_made):
        attempts.setdefault(fallback_base(comm.idempotency_key), []).append(comm)
    for content, tries in attempts.items():
        outcome = tries[-1]
        if content.endswith(NOTICE_MARK):
            why = None if outcome.status == SENT else outcome.reason
            summary.notices[(outcome.channel, outcome.status, why)] += 1
            continue
        if COPY_MARK in content:
            summary.copies[f"{outcome.channel}: {outcome.status}"] += 1
            continue
        summary.statuses[outcome.status] += 1
        if len(tries) > 1:
            summary.fallbacks[" -> ".join(str(c.channel) for c in tries)] += 1
        if outcome.status == SENT:
            summary.sent_by_channel[outcome.channel] += 1
        else:
            reason = grouped_reason(outcome.reason or "awaiting delivery")
            summary.reasons.setdefault(outcome.status, Counter())[reason] += 1
    if summary.accounted != summary.extracted:
        raise AccountingError(
            f"{summary.extracted} records extracted but {summary.accounted} in the ledger"
        )
    return summary


#: the first words of every note :func:`run_note` writes (an operator's own note differs)
NOTE_TITLE = "**Missiva run summary**"


def run_note(report: Mapping[str, Any]) -> str:
    """The run's note in the Airflow UI (Markdown) from its report (:meth:`RunSummary.
    as_dict`): counts by status and channel; the reasons are in the report task's log."""
    statuses = Counter(report.get("statuses") or {})
    sent = f"{statuses.pop(SENT, 0)} sent" + _by_channel(Counter(report.get("sent_by_channel")))
    parts = [f"{report.get('extracted', 0)} extracted", sent]
    parts += [f"{statuses[s]} {s}" for s in FINAL + IN_FLIGHT if s != SENT and statuses[s]]
    if report.get("handled_before"):
        parts.append(f"{report['handled_before']} already handled by an earlier run")
    return (
        f"{NOTE_TITLE} ({report.get('interval', '')}): {', '.join(parts)}.\n\n"
        "Reasons: the `report` task's log; each communication: the Communications page."
    )
