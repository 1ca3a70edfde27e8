"""The status of a communication: its states and the transitions between them, declared once.

The outbox moves a communication ``composed`` (or ``deferred``) -> ``sending`` ->
``sent``/``failed``; the contact policy may end it ``suppressed`` or hold it
``deferred``; a send whose outcome is unknown (the server's reply to the handed-over
data lost, or its sender dead after the hand-over) becomes ``review``; a dead sender's
``sending`` that provably never reached the server is ``composed`` again (resent).
Provider delivery reports then settle ``review`` and turn an undeliverable ``sent``
into ``bounced`` (:data:`REPORT_EFFECTS`); a person settles ``review`` as ``sent``,
``failed`` or ``composed`` (send it again) with ``missiva review resolve``. A run held
for release and rejected ends its communications ``composed`` -> ``cancelled`` (who
rejected it and why in the event). The ledger refuses every other change
(:func:`check`).
"""

from missiva.records.errors import LedgerError

COMPOSED = "composed"
#: held back by the contact policy (quiet hours) until the ``not_before`` its event records
DEFERRED = "deferred"
SENDING = "sending"
SENT = "sent"
SUPPRESSED = "suppressed"
QUARANTINED = "quarantined"
FAILED = "failed"
#: the e-mail was handed over but its outcome is unknown: a person (or a report) decides
REVIEW = "review"
BOUNCED = "bounced"
#: never sent: the run holding it was rejected at its release gate
CANCELLED = "cancelled"

#: Statuses the outbox is done with (in the order a run summary lists them)
FINAL = (SENT, SUPPRESSED, QUARANTINED, FAILED, BOUNCED, REVIEW, CANCELLED)
#: Statuses of communications not out yet: the outbox still has to act on them
IN_FLIGHT = (DEFERRED, COMPOSED, SENDING)
STATUSES = FINAL + IN_FLIGHT
#: Statuses of communications never handed to a provider: no report can be about them
NOT_HANDED_OVER = (COMPOSED, DEFERRED, SUPPRESSED, QUARANTINED, CANCELLED)

#: The event kind of a held run's communications when a releaser approved the run
RELEASED = "released"

#: What a provider may report about a communication (see :mod:`missiva.delivery.reports`)
DELIVERY_REPORTS = ("delivered", "soft_bounce", "hard_bounce", "complaint", "rejected")
#: Reports proving the address unusable: a ``sent`` row becomes ``bounced``
UNDELIVERABLE_REPORTS = ("hard_bounce", "rejected")
#: {report: {status before: status after}}; any other report or status is left as it is
REPORT_EFFECTS = {
    "hard_bounce": {SENT: BOUNCED, REVIEW: BOUNCED},
    "rejected": {SENT: BOUNCED, REVIEW: BOUNCED},
    "delivered": {REVIEW: SENT},
}

_OUTBOX = {
    COMPOSED: (SENDING, SUPPRESSED, DEFERRED, CANCELLED),
    DEFERRED: (SENDING, SUPPRESSED, DEFERRED),
    SENDING: (SENT, FAILED, COMPOSED, REVIEW),
    REVIEW: (SENT, FAILED, COMPOSED),  # settled by a person (``missiva review resolve``)
}
#: Every allowed (from, to) status change
TRANSITIONS = frozenset(
    [(old, new) for old, targets in _OUTBOX.items() for new in targets]
    + [pair for effects in REPORT_EFFECTS.values() for pair in effects.items()]
)


def check(old: str, new: str) -> None:
    """Raise :class:`LedgerError` unless ``old`` -> ``new`` is a declared transition."""
    if (old, new) not in TRANSITIONS:
        allowed = sorted(to for start, to in TRANSITIONS if start == old) or ["none"]
        raise LedgerError(
            f"status transition {old!r} -> {new!r} is not allowed "
            f"(from {old!r}: {', '.join(allowed)})"
        )


def check_known(status: str) -> None:
    """Raise :class:`LedgerError` unless ``status`` is a declared status."""
    if status not in STATUSES:
        raise LedgerError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
