"""The idempotency-key grammar: how a communication's key is made, and the keys derived
from it (fallbacks, copies, portal notices, quarantined rows).

A key is ``journey/communication/customer/subject``; a derived key appends a mark
(``/fallback-<channel>``, ``/copy-<channel>``, ``/notice``, ``/row-<n>``). The
communication id is a UUID5 of the key, so the same key always gives the same row.
"""

import uuid
from typing import Any

from missiva.channels import registry
from missiva.journey import Journey
from missiva.run_context import RunContext

ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://missiva.example/communications")
FALLBACK_MARK = "/fallback-"
COPY_MARK = "/copy-"
NOTICE_MARK = "/notice"


def business_key(journey: Journey, run: RunContext) -> str:
    """The business scope of a run: its data interval's day, or the run itself."""
    if journey.scope == "run":
        return run.run_id
    return run.interval_start.strftime("%Y-%m-%d")


def idempotency_key(journey: Journey, run: RunContext, record: dict[str, Any]) -> str:
    """Deterministic: journey, communication, customer, and the record's subject (else
    the business key)."""
    subject = record.get("subject_key") or business_key(journey, run)
    communication = journey.requested(record)
    return f"{journey.name}/{communication}/{record['customer_id']}/{subject}"


def communication_id(key: str) -> str:
    """The communication id of idempotency key ``key`` (a UUID5)."""
    return str(uuid.uuid5(ID_NAMESPACE, key))


def quarantine_key(key: str, row_id: int) -> str:
    """The key of source row ``row_id`` quarantined instead of communication ``key``."""
    return f"{key}/row-{row_id}"


def fallback_key(key: str, channel: str) -> str:
    """The idempotency key of the fallback of communication ``key`` on ``channel``."""
    return f"{key}{FALLBACK_MARK}{channel}"


def fallback_base(key: str) -> str:
    """The key of the content that fallback ``key`` carries on another channel (``key``
    itself when it is not a fallback). Every fallback of one content hangs off its key,
    and the contact policy de-duplicates on it: a fallback of the same content on
    another channel is not a duplicate."""
    head, mark, channel = key.rpartition(FALLBACK_MARK)
    return head if mark and "/" not in channel else key


def copy_key(key: str, channel: str) -> str:
    """The idempotency key of the copy of communication ``key`` sent on ``channel``."""
    return f"{key}{COPY_MARK}{channel}"


def notice_key(key: str) -> str:
    """The idempotency key of the notice (e-mail or SMS) that the portal document of
    communication ``key`` is in the customer's inbox."""
    return f"{key}{NOTICE_MARK}"


def delivery_keys(journey: Journey, key: str) -> list[str]:
    """The keys a communication may lead to: itself, its fallbacks, its copies, the
    notices of its portal documents and the notices' fallbacks."""
    copied = {c for channels in journey.copies.values() for c in channels}
    keys = [key, *(fallback_key(key, c) for c in journey.channels)]
    keys += [copy_key(key, c) for c in sorted(copied)]
    notices = [notice_key(k) for k in keys]
    notice_channels = registry.notice_channels()
    return keys + notices + [fallback_key(n, c) for n in notices for c in notice_channels]
