"""Delivery reports from providers (bounces, complaints, deliveries) into the ledger.

A provider (or the glue that turns its webhook into this format) sends JSON: one
object, or a list of objects, each describing one report::

    {
      "communication_id": "3f2a9c1e-...",             # one or more of these three
      "message_id": "<3f2a9c1e-...@missiva.example>",  #   identify the communication
      "provider_message_id": "Q00042",
      "event": "hard_bounce",                # delivered | soft_bounce | hard_bounce
                                             #   | complaint | rejected
      "reason": "550 5.1.1 user unknown",    # optional
      "at": "2026-11-02T09:15:00Z",          # optional, ISO 8601 with a time zone
      "provider": "postfix"                  # optional
    }

- ``message_id`` is Missiva's deterministic Message-ID ``<communication_id@domain>`` as
  the SMTP server or ESP reports it (angle brackets optional); the domain must be
  ``MISSIVA_MESSAGE_ID_DOMAIN``. ``provider_message_id`` is the id the provider
  answered at send time (the ledger's ``provider_message_id``); it must match exactly
  one communication. When several identifiers are given they must agree.
- Validation is strict: an item that is not an object, has an unknown field, lacks an
  identifier, names an unknown event, carries a malformed value or designates an
  unknown communication (or one never handed to a provider) is rejected with its
  index and the reason. The other items are still applied.
- Applying a report appends a hash-chained ledger event whose kind is the event name
  (:meth:`~missiva.records.ledger.Ledger.record_delivery_report`); ``hard_bounce`` and
  ``rejected`` also move a ``sent`` (or ``review``) communication to ``bounced``, and
  :meth:`~missiva.records.ledger.Ledger.invalid_contacts` then lists that address so the next
  run routes around it; ``delivered`` settles a ``review`` communication (outcome
  unknown after a worker died mid-send) as ``sent``.
- Idempotent: a report is identified by its content (communication, event, at,
  provider, reason): ingesting it again counts as a duplicate and records nothing.

Entry points: ``missiva events ingest FILE|-`` and ``POST /missiva/events/ingest`` on
the Airflow API server (an authenticated Airflow user, e.g. a provider's bearer token).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from missiva.records.errors import LedgerError
from missiva.records.ledger import Ledger
from missiva.records.models import canonical_json
from missiva.records.status import DELIVERY_REPORTS

ID_FIELDS = ("communication_id", "message_id", "provider_message_id")
OPTIONAL_FIELDS = ("reason", "at", "provider")
FIELDS = frozenset((*ID_FIELDS, "event", *OPTIONAL_FIELDS))
MAX_LENGTHS = {"reason": 2000, "provider": 64, "at": 64}
MAX_ID_LENGTH = 255
_MESSAGE_ID = re.compile(r"(?P<open><?)(?P<local>[^<>@\s]+)@(?P<domain>[^<>@\s]+)(?P<close>>?)")


class ReportError(ValueError):
    """The payload as a whole is unusable (not JSON, not an object or a list)."""


class Rejection(ValueError):
    """One report item that cannot be applied, and why."""


@dataclass(frozen=True)
class Report:
    """One validated report item (``index``: its position in the payload)."""

    index: int
    event: str
    communication_id: str | None = None
    message_id: str | None = None
    provider_message_id: str | None = None
    reason: str | None = None
    at: datetime | None = None  # in UTC
    provider: str | None = None


@dataclass(frozen=True)
class Rejected:
    index: int
    reason: str


@dataclass
class IngestResult:
    applied: int = 0
    duplicate: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "duplicate": self.duplicate,
            "rejected": len(self.rejected),
            "rejections": [{"index": r.index, "reason": r.reason} for r in self.rejected],
        }

    def summary(self) -> str:
        return f"applied {self.applied}, duplicate {self.duplicate}, rejected {len(self.rejected)}"


def loads(data: str | bytes) -> Any:
    """The JSON payload, or :class:`ReportError`."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"the payload is not JSON: {exc}") from exc


def _text(item: dict[str, Any], name: str, limit: int) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Rejection(f"{name}: must be a non-empty string")
    if len(value) > limit:
        raise Rejection(f"{name}: longer than {limit} characters")
    return value.strip()


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Rejection(f"at: not an ISO 8601 time with a time zone: {value!r}")
    return moment.astimezone(UTC)


def parse_item(index: int, item: Any) -> Report:
    """One payload item, validated; raises :class:`Rejection`."""
    if not isinstance(item, dict):
        raise Rejection(f"not a JSON object but {type(item).__name__}")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise Rejection(f"unknown field(s): {', '.join(unknown)}")
    ids = {name: _text(item, name, MAX_ID_LENGTH) for name in ID_FIELDS}
    if not any(ids.values()):
        raise Rejection(f"missing identifier: give one of {', '.join(ID_FIELDS)}")
    event = item.get("event")
    if event is None:
        raise Rejection("missing event")
    if event not in DELIVERY_REPORTS:
        raise Rejection(f"event: {event!r} is not one of {', '.join(DELIVERY_REPORTS)}")
    optional = {name: _text(item, name, MAX_LENGTHS[name]) for name in OPTIONAL_FIELDS}
    optional["at"] = _time(optional["at"])
    return Report(index, event, **ids, **optional)


def parse(payload: Any) -> tuple[list[Report], list[Rejected]]:
    """Validate every item of a payload (one object or a list of objects)."""
    if isinstance(payload, dict):
        items = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise ReportError("the payload must be a JSON object or a list of objects")
    reports, rejected = [], []
    for index, item in enumerate(items):
        try:
            reports.append(parse_item(index, item))
        except Rejection as exc:
            rejected.append(Rejected(index, str(exc)))
    return reports, rejected


def communication_of_message_id(message_id: str, domain: str) -> str:
    """The communication id inside Missiva's Message-ID ``<communication_id@domain>``."""
    match = _MESSAGE_ID.fullmatch(message_id)
    if not match or bool(match["open"]) != bool(match["close"]):
        raise Rejection(f"message_id: not a Message-ID: {message_id!r}")
    if match["domain"].lower() != domain.lower():
        raise Rejection(
            f"message_id: not a Missiva Message-ID (domain {match['domain']!r}, "
            f"expected {domain!r})"
        )
    return match["local"]


class _Resolver:
    """Finds the communication a report is about (provider ids looked up in one pass)."""

    def __init__(self, ledger: Ledger, reports: list[Report], domain: str) -> None:
        self.ledger, self.domain = ledger, domain
        wanted = {r.provider_message_id for r in reports if r.provider_message_id}
        self.by_provider_id = ledger.by_provider_message_ids(wanted) if wanted else {}

    def __call__(self, report: Report) -> str:
        candidates = {}
        if report.communication_id:
            candidates["communication_id"] = report.communication_id
        if report.message_id:
            found = communication_of_message_id(report.message_id, self.domain)
            candidates["message_id"] = found
        if report.provider_message_id:
            comms = self.by_provider_id.get(report.provider_message_id, [])
            if len(comms) > 1:
                raise Rejection(
                    f"provider_message_id: {report.provider_message_id!r} matches "
                    f"{len(comms)} communications; give communication_id or message_id"
                )
            if not comms:
                raise Rejection(
                    f"unknown communication: no provider_message_id {report.provider_message_id!r}"
                )
            candidates["provider_message_id"] = comms[0].communication_id
        if len(set(candidates.values())) > 1:
            given = ", ".join(f"{k} -> {v}" for k, v in candidates.items())
            raise Rejection(f"identifiers disagree ({given})")
        (communication_id,) = set(candidates.values())
        if self.ledger.get(communication_id) is None:
            raise Rejection(f"unknown communication {communication_id!r}")
        return communication_id


def report_key(communication_id: str, report: Report) -> str:
    """What identifies a report, however the communication was designated."""
    at = report.at.isoformat() if report.at else None
    content = [communication_id, report.event, at, report.provider, report.reason]
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def ingest(
    ledger: Ledger, payload: Any, *, message_id_domain: str, source: str | None = None
) -> IngestResult:
    """Apply every valid report of ``payload`` to the ledger; reject the others.

    ``source`` (e.g. ``cli`` or ``http:<user>``) is recorded in each event.
    Raises :class:`ReportError` when the payload is neither an object nor a list.
    """
    reports, rejected = parse(payload)
    result = IngestResult(rejected=rejected)
    resolve = _Resolver(ledger, reports, message_id_domain)
    for report in reports:
        try:
            communication_id = resolve(report)
            detail = {
                "report_key": report_key(communication_id, report),
                "reason": report.reason,
                "provider": report.provider,
                "provider_message_id": report.provider_message_id,
                "at": report.at.isoformat() if report.at else None,
                "source": source,
            }
            detail = {k: v for k, v in detail.items() if v is not None}
            if ledger.record_delivery_report(communication_id, report.event, **detail):
                result.applied += 1
            else:
                result.duplicate += 1
        except (Rejection, LedgerError) as exc:
            result.rejected.append(Rejected(report.index, str(exc)))
    result.rejected.sort(key=lambda r: r.index)
    return result
