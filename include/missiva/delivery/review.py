"""Review items: communications whose outcome is unknown (an e-mail handed to the
server whose reply was lost), settled by a person with who and why in the ledger.

:func:`awaiting_review` lists them; :func:`resolve` records the decision as a chained
event: ``sent`` (the server log shows it accepted), ``failed`` (it never arrived), or
``resend`` (``composed`` again, then sent once through the outbox of the run that
composed it; one that cannot go out yet stays ``composed``, and the same command
tries again).
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from missiva.delivery.outbox import Providers, _clock, _Outbox, delivering
from missiva.journeys import journey_named
from missiva.records.ledger import Ledger
from missiva.records.models import Communication, detail_value
from missiva.records.status import COMPOSED, FAILED, REVIEW, SENT
from missiva.records.store import open_store
from missiva.run_context import RunContext
from missiva.settings import Settings

#: what a person may decide about a review item -> the status it gets
DECISIONS = {"sent": SENT, "failed": FAILED, "resend": COMPOSED}


class ReviewError(Exception):
    """The communication is not awaiting review, or the decision is incomplete."""


@dataclass(frozen=True)
class Resolution:
    communication_id: str
    decision: str
    #: the status after the decision (after the send, for ``resend``)
    status: str


def awaiting_review(
    ledger: Ledger, *, journey: str | None = None, run_id: str | None = None
) -> list[Communication]:
    """The communications in ``review`` (of ``journey``, of the run ``run_id``), oldest first."""
    return [
        c
        for c in ledger.communications(journey=journey)
        if c.status == REVIEW and run_id in (None, c.run_id)
    ]


def resolve(
    settings: Settings,
    communication_id: str,
    decision: str,
    *,
    by: str,
    why: str,
    providers: Providers = MappingProxyType({}),
) -> Resolution:
    """Settle one review item as ``decision`` (:data:`DECISIONS`), recording ``by`` and
    ``why``; ``resend`` sends it (``providers``: the channels' provider settings)."""
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
    if not by.strip() or not why.strip():
        raise ReviewError("a review decision needs who decided (--by) and why (--why)")
    store = open_store(settings.archive_url)
    with delivering(settings, store, providers) as (ledger, policy, adapters, holds):
        comm = ledger.get(communication_id)
        if not (decision == "resend" and _resend_pending(ledger, comm)):
            if comm is None or comm.status != REVIEW:
                status = comm.status if comm else "unknown"
                raise ReviewError(f"{communication_id} is not awaiting review (it is {status})")
            fields: dict[str, Any] = {"reason": f"review: {decision} ({by}: {why})"}
            if decision == "sent":
                fields["sent_at"] = comm.updated_at  # when its data went to the server
            note = {"resolved_by": by, "why": why, "decision": decision}
            ledger.transition(communication_id, REVIEW, DECISIONS[decision], note=note, **fields)
        if decision == "resend":
            journey = journey_named(comm.journey)
            outbox = _Outbox(
                journey,
                _origin(ledger, comm),
                settings,
                store,
                ledger,
                adapters,
                policy,
                _clock(None),
                holds,
            )
            outbox.deliver(ledger.get(communication_id))
            if ledger.get(communication_id).status == COMPOSED:
                raise ReviewError(
                    f"{communication_id}: resend recorded but not sent yet ({holds.summary()}); "
                    "run the same command again"
                )
        return Resolution(communication_id, decision, ledger.get(communication_id).status)


def _resend_pending(ledger: Ledger, comm: Communication | None) -> bool:
    """A resend was decided but could not go out (the channel failed): still ``composed``."""
    if comm is None or comm.status != COMPOSED:
        return False
    decisions = [detail_value(e.detail, "decision") for e in ledger.events(comm.communication_id)]
    return [d for d in decisions if d][-1:] == ["resend"]


def _origin(ledger: Ledger, comm: Communication) -> RunContext:
    """The journey run that composed ``comm``, as the review's sender."""
    run = ledger.get_run(comm.dag_id, comm.run_id)
    return RunContext(
        comm.dag_id, comm.run_id, "review_resend", 1, run.interval_start, run.interval_end
    )


def provider_loaders(smtp: str | None) -> dict[str, Callable[[], Any]]:
    """Provider settings for a resend: the SMTP server ``host:port`` given on the command
    line, else the Airflow Connections (as the DAGs use)."""
    if smtp is None:
        from missiva.orchestration.connections import channel_providers

        return channel_providers()
    from missiva.delivery.smtp_transport import SmtpSettings

    host, _, port = smtp.rpartition(":")
    return {"email": lambda: SmtpSettings(host, int(port))}
