"""Delivery of composed communications: the outbox, exactly once per communication.

Only ``composed`` communications are sent; each send is bracketed by ``sending`` and
``sent``/``failed``. A permanent refusal marks the communication failed and composes its
fallback channel; a communication left ``sending`` by a dead worker is recovered.
"""

import json
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime

from missiva.channels.base import Delivery, PermanentFailure
from missiva.channels.smtp import SmtpAdapter
from missiva.delivery import SmtpSettings, drop_for_print
from missiva.journey import Journey
from missiva.ledger import Communication, Ledger, fallback_key
from missiva.pipeline import Composition, business_key, delivery_keys, idempotency_key
from missiva.routing import Route, route
from missiva.run_context import RunContext
from missiva.settings import Settings
from missiva.staging import Staging
from missiva.store import ArtifactStore, open_store

log = logging.getLogger(__name__)

# Channels whose send can be repeated without a second effect on the customer.
RESENDABLE_CHANNELS = frozenset({"paper"})


class _ChunkDelivery:
    """Sends a chunk's composed communications once; a permanent refusal (e.g. the mail
    server rejects the address) marks it failed and composes its fallback channel."""

    def __init__(
        self,
        journey: Journey,
        run: RunContext,
        settings: Settings,
        store: ArtifactStore,
        ledger: Ledger,
        email: SmtpAdapter | None,
    ) -> None:
        self.journey, self.run, self.settings = journey, run, settings
        self.store, self.ledger, self.email = store, ledger, email
        self._composition: Composition | None = None

    def _send(self, comm: Communication, data: bytes) -> str:
        if comm.channel == "email":
            if self.email is None:
                raise RuntimeError("an e-mail is pending but no SMTP connection is open")
            delivery = Delivery(
                comm.communication_id, comm.idempotency_key, comm.recipient, data, "message/rfc822"
            )
            return self.email.send(delivery).provider_message_id
        folder = self.settings.print_dir / self.run.dag_id / business_key(self.journey, self.run)
        return str(drop_for_print(folder, comm.communication_id, data, comm.recipient))

    def recover(self, comm: Communication) -> None:
        """A communication left ``sending`` by a worker that died mid-send. Printing is
        idempotent (same file, same name): send again. An e-mail may or may not have been
        accepted by the server: never resend it; flag it for review."""
        if comm.channel in RESENDABLE_CHANNELS:
            self.ledger.transition(comm.communication_id, "sending", "composed")
            self.deliver(self.ledger.get(comm.communication_id))
            return
        reason = (
            "outcome unknown: the worker stopped after handing the message to the server and "
            f"before recording the result (try {comm.try_number}); not resent — its "
            "Message-ID lets the mail system de-duplicate; check the server log"
        )
        self.ledger.transition(comm.communication_id, "sending", "review", reason=reason)

    def deliver(self, comm: Communication) -> None:
        """Send one ``composed`` communication: ``sending`` before, ``sent``/``failed`` after."""
        data = self.store.get(comm.artifact_uri, comm.artifact_sha256)
        who = {"task_id": self.run.task_id, "try_number": self.run.try_number}
        self.ledger.transition(comm.communication_id, "composed", "sending", **who)
        try:
            provider_id = self._send(comm, data)
        except PermanentFailure as exc:
            reason = f"{comm.channel} refused: {exc}"
            self.ledger.transition(comm.communication_id, "sending", "failed", reason=reason)
            self._fall_back(comm, reason)
            return
        except BaseException:  # outcome known not to be a send: retry later
            self.ledger.transition(comm.communication_id, "sending", "composed")
            raise
        self.ledger.transition(
            comm.communication_id,
            "sending",
            "sent",
            provider_message_id=provider_id,
            sent_at=datetime.now(UTC),
        )

    def _fall_back(self, failed: Communication, why: str) -> None:
        record = json.loads(self.store.get(failed.input_uri, failed.data_sha256))
        if self.journey.required_channel(failed.communication):
            return  # no substitute for a legally required channel
        others = tuple(c for c in self.journey.channels if c != failed.channel)
        chosen = route(record, others, self.journey.purpose)
        if chosen.suppressed:
            return
        key = fallback_key(failed.idempotency_key, chosen.channel)
        if self._composition is None:
            self._composition = Composition(self.journey, self.run, self.settings, self.store)
        reason = f"fallback after {why}; {chosen.reason}"
        self._composition(self.ledger, record, key, Route(chosen.channel, chosen.recipient, reason))
        (fallback,) = self.ledger.by_keys([key]).values()
        if fallback.status == "composed":
            self.deliver(fallback)


def deliver_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk: int,
    smtp: Callable[[], SmtpSettings],
    *,
    store: ArtifactStore | None = None,
) -> dict:
    """Send every ``composed`` communication of a chunk (and its fallbacks), e-mail over
    one SMTP connection."""
    records = Staging(settings.staging_dir, run.dag_id, run.run_id).read_chunk(chunk)
    store = store or open_store(settings.archive_url)
    keys = [k for r in records for k in delivery_keys(journey, idempotency_key(journey, run, r))]
    with Ledger(settings.ledger_url) as ledger:
        comms = ledger.by_keys(keys).values()
        pending = [c for c in comms if c.status == "composed"]
        interrupted = [c for c in comms if c.status == "sending"]
        needs_smtp = any(c.channel == "email" for c in pending)
        with SmtpAdapter(smtp(), settings.sender) if needs_smtp else nullcontext() as email:
            chunk_delivery = _ChunkDelivery(journey, run, settings, store, ledger, email)
            for comm in interrupted:
                chunk_delivery.recover(comm)
            for comm in pending:
                chunk_delivery.deliver(comm)
        counts = Counter(c.status for c in ledger.by_keys(keys).values())
    log.info("chunk %d delivered: %s", chunk, dict(counts))
    return dict(counts)
