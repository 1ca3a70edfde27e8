"""Delivery of composed communications: the outbox, exactly once per communication.

Only ``composed`` (or due ``deferred``) communications are sent. Just before each send
the contact policy (:mod:`missiva.routing.contact_policy`) reserves the contact: ``suppress``
ends the communication ``suppressed`` with the policy's reason, ``defer`` records it
``deferred`` with ``not_before`` (the ``deferred_deliveries`` DAG sends it later); a
legally required communication is exempt from the frequency caps (recorded on its
``sending`` event). Each send is bracketed by ``sending`` (under the sender's lease,
:mod:`missiva.delivery.leases`) and ``sent``/``failed``, and records the moment the
message is handed over (:mod:`missiva.records.send_progress`): a lost reply after it
makes the send ``review``, never resent. A permanent refusal, or a message this channel
cannot carry (an encoding error), marks the communication failed and owes its fallback
in the same transaction, releases its reservation and composes the fallback. A dead
sender's ``sending`` is recovered: resent when it provably never reached the server,
``review`` otherwise. A channel that is down, or a recipient that keeps failing, holds
back only its own communications (:mod:`missiva.delivery.holds`).
"""

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType
from typing import Any

from missiva.channels import registry
from missiva.channels.base import (
    ChannelAdapter,
    ChannelConfigurationError,
    Delivery,
    DeliveryError,
    OutcomeUnknown,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from missiva.delivery import leases
from missiva.delivery.holds import Holds
from missiva.flow import Composition, staging
from missiva.journey import PORTAL_NOTICE, Journey
from missiva.privacy.sealing import sealed
from missiva.records.errors import LeaseLost
from missiva.records.keys import (
    delivery_keys,
    fallback_base,
    fallback_key,
    idempotency_key,
    notice_key,
)
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.send_progress import (
    BEFORE_DATA,
    FALLBACK_OWED,
    Progress,
    SendProgress,
)
from missiva.records.status import (
    COMPOSED,
    DEFERRED,
    FAILED,
    REVIEW,
    SENDING,
    SENT,
    SUPPRESSED,
)
from missiva.records.store import ArtifactStore, open_store
from missiva.routing.contact_policy import ContactPolicy, PolicyConfig
from missiva.routing.rules import Route, route
from missiva.run_context import RunContext
from missiva.settings import Settings

log = logging.getLogger(__name__)

#: channel -> a loader of its provider settings (e.g. the SMTP server's), for the
#: channels that declare ``needs_provider``
Providers = Mapping[str, Callable[[], Any]]
AdapterFactories = Mapping[str, Callable[[], ChannelAdapter]]
#: what an adapter raises for a message it cannot carry (e.g. a non-ASCII address)
UNSENDABLE = (UnicodeError, ValueError)


class _Adapters:
    """Channel adapters opened on first use (one connection per batch), closed together."""

    def __init__(self, stack: ExitStack, factories: AdapterFactories) -> None:
        self._stack, self._factories = stack, factories
        self._open: dict[str, ChannelAdapter] = {}

    def __call__(self, channel: str) -> ChannelAdapter:
        if channel not in self._factories:
            raise ChannelConfigurationError(
                f"a {channel} communication is due but no {channel} provider is set"
            )
        if channel not in self._open:
            self._open[channel] = self._stack.enter_context(self._factories[channel]())
        return self._open[channel]


class _Outbox:
    """Sends a run's composed communications once; a permanent refusal (e.g. the mail
    server rejects the address) marks it failed and composes its fallback channel."""

    def __init__(
        self,
        journey: Journey,
        run: RunContext,
        settings: Settings,
        store: ArtifactStore,
        ledger: Ledger,
        adapters: Callable[[str], ChannelAdapter],
        policy: ContactPolicy,
        now: Callable[[], datetime],
        holds: Holds,
    ) -> None:
        self.journey, self.run, self.settings = journey, run, settings
        self.store, self.ledger, self.adapters = sealed(store, ledger), ledger, adapters
        self.policy, self.now, self.holds = policy, now, holds
        self.owner = leases.owner(run)
        self._composition: Composition | None = None

    def _notify(self, comm: Communication, link: str) -> None:
        """Compose the notice telling the customer a document waits for them, with the
        link (sent once the document is recorded ``sent``)."""
        record = json.loads(self.store.get(comm.input_uri, comm.data_sha256))
        notice = {
            **record,
            "communication": PORTAL_NOTICE,
            "document": comm.communication,  # named in the language of the notice
            "document_title": _title(comm),
            "document_link": link,
        }
        chosen = route(notice, registry.notice_channels(), self.journey.purpose)
        self._composer()(self.ledger, notice, notice_key(comm.idempotency_key), chosen)

    def _send(
        self, comm: Communication, data: bytes, adapter: ChannelAdapter, stage: leases.SendStage
    ) -> SendResult:
        channel = registry.get(comm.channel)
        delivery = Delivery(
            comm.communication_id,
            comm.idempotency_key,
            comm.recipient,
            data,
            channel.content_type,
            metadata={
                "customer_id": comm.customer_id,
                "title": _title(comm),
                "dag_id": comm.dag_id,
                "business_key": comm.business_key,
            },
            handing_over=stage.handing_over,
        )
        result = adapter.send(delivery)
        if channel.sends_notice:
            self._notify(comm, result.provider_message_id)
        return result

    def recover(self, comm: Communication, progress: SendProgress | None) -> bool:
        """A communication left ``sending``: nothing when its sender is alive (False).
        A dead sender's send that provably never reached the server (before the data),
        or on a channel where sending again has no second effect (printing; the SMS
        provider de-duplicates on the idempotency key), is sent again; an e-mail handed
        over may have been accepted: ``review``, never resent."""
        if not leases.dead(progress, self.now()):
            return False
        holder = progress.owner if progress else None
        stage = progress.stage if progress else "stage unrecorded"
        try:
            if stage == BEFORE_DATA or registry.get(comm.channel).resend_safe:
                why = f"recovered from {holder or 'a sender without lease'} ({stage})"
                self.ledger.transition(
                    comm.communication_id, SENDING, COMPOSED, held_by=holder, reason=why
                )
                self.deliver(self.ledger.get(comm.communication_id))
                return True
            reason = (
                f"outcome unknown: the worker stopped after handing the message to the "
                f"server ({stage}) and before its reply (try {comm.try_number}); not "
                "resent — its Message-ID lets the mail system de-duplicate; check the "
                "server log"
            )
            self.ledger.transition(
                comm.communication_id, SENDING, REVIEW, held_by=holder, reason=reason
            )
        except LeaseLost:  # another worker recovered it first
            log.info("%s: recovered by another worker", comm.communication_id)
        return True

    def _admitted(self, comm: Communication) -> dict | None:
        """Reserve the contact under the policy; record a suppression or deferral (None).
        A channel that needs no consent (a portal document: its notice is the contact)
        is not under the policy. What to note on the send: a legally required
        communication's exemption from the frequency caps."""
        if not registry.get(comm.channel).needs_consent:
            return {}
        decision = self.policy.reserve(
            comm.customer_id,
            comm.channel,
            self.journey.purpose,
            fallback_base(comm.idempotency_key),
            comm.communication_id,
            self._timezone(comm),
            self.now(),
            legally_required=self.journey.required_channel(comm.communication) == comm.channel,
        )
        if decision.kind == "suppress":
            reason = f"contact policy: {decision.reason}"
            self.ledger.transition(comm.communication_id, comm.status, SUPPRESSED, reason=reason)
        elif decision.kind == "defer":
            self.ledger.transition(
                comm.communication_id,
                comm.status,
                DEFERRED,
                reason=f"contact policy: {decision.reason}",
                note={"not_before": decision.not_before.isoformat()},
            )
        if not decision.allowed:
            return None
        return {"contact_policy": decision.reason} if decision.exempt else {}

    def _timezone(self, comm: Communication) -> str | None:
        """The customer's time zone as composed (in ``consent_state``); for a
        communication composed before it was recorded there, from its input record."""
        consent = comm.consent or {}
        if "timezone" in consent:
            return consent["timezone"]
        return json.loads(self.store.get(comm.input_uri, comm.data_sha256)).get("timezone")

    def deliver(self, comm: Communication) -> None:
        """Send one ``composed``/``deferred`` communication the policy admits:
        ``sending`` before, ``sent``/``failed`` after; a transient failure leaves it
        ``composed`` and held (:class:`Holds`)."""
        if self.holds.holding(comm.channel):
            self.holds.skip(comm)
            return
        try:
            adapter = self.adapters(comm.channel)
        except DeliveryError as exc:  # cannot connect, or not configured: the channel waits
            self.holds.hold_channel(comm, exc)
            return
        note = self._admitted(comm)
        if note is None:
            return
        data = self.store.get(comm.artifact_uri, comm.artifact_sha256)
        who = {"task_id": self.run.task_id, "try_number": self.run.try_number}
        stage = leases.SendStage(self.ledger, self.owner, self.now, comm.communication_id)
        lease = stage.lease(BEFORE_DATA)
        self.ledger.transition(
            comm.communication_id, comm.status, SENDING, progress=lease, note=note, **who
        )
        try:
            result = self._send(comm, data, adapter, stage)
        except LeaseLost as exc:  # taken over while this sender was too slow: theirs now
            log.warning("%s", exc)
            return
        except OutcomeUnknown as exc:
            self._review(comm, f"outcome unknown: {exc}; not resent")
            return
        except PermanentFailure as exc:
            self._fail(comm, f"{comm.channel} refused: {exc}")
            return
        except UNSENDABLE as exc:
            self._fail(comm, f"{comm.channel} cannot carry it: {type(exc).__name__}: {exc}")
            return
        except (TransientFailure, ChannelConfigurationError) as exc:  # not sent: later
            self._settle(comm, COMPOSED)
            if isinstance(exc, TransientFailure):
                self.holds.failed(comm, exc)
            else:
                self.holds.hold_channel(comm, exc)
            return
        except BaseException as exc:  # interrupted: unknown once handed over, else not sent
            if stage.handed_over:
                self._review(comm, f"outcome unknown: interrupted after the data ({exc!r})")
            else:
                self._settle(comm, COMPOSED)
            raise
        self.holds.succeeded(comm.channel)
        self._settle(
            comm,
            SENT,
            note=result.note,
            provider_message_id=result.provider_message_id,
            sent_at=datetime.now(UTC),
        )
        if registry.get(comm.channel).sends_notice:
            self._deliver_composed(notice_key(comm.idempotency_key))

    def _settle(self, comm: Communication, new: str, **fields: Any) -> None:
        """End this sender's ``sending`` (only while it still holds the lease)."""
        self.ledger.transition(comm.communication_id, SENDING, new, held_by=self.owner, **fields)

    def _review(self, comm: Communication, reason: str) -> None:
        log.warning("%s needs review: %s", comm.communication_id, reason)
        self._settle(comm, REVIEW, reason=reason)

    def _fail(self, comm: Communication, reason: str) -> None:
        """This message can never go out on its channel: record it failed and its
        fallback owed (one transaction), then release the contact and fall back."""
        owed = None if self.journey.required_channel(comm.communication) else FALLBACK_OWED
        self.ledger.transition(
            comm.communication_id,
            SENDING,
            FAILED,
            held_by=self.owner,
            progress=Progress(owed) if owed else None,
            reason=reason,
        )
        self.owed_fallback(self.ledger.get(comm.communication_id))

    def owed_fallback(self, failed: Communication) -> None:
        """Release a failed communication's contact and compose (and send) the fallback
        its failure owes; a worker that died in between leaves it owed for the rerun."""
        self.policy.release(failed.communication_id)
        self._fall_back(failed, failed.reason)
        self.ledger.fallback_composed(failed.communication_id)

    def _composer(self) -> Composition:
        if self._composition is None:
            self._composition = Composition(self.journey, self.run, self.settings, self.store)
        return self._composition

    def _deliver_composed(self, key: str) -> None:
        (comm,) = self.ledger.by_keys([key]).values()
        if comm.status == COMPOSED:
            self.deliver(comm)

    def _fall_back(self, failed: Communication, why: str) -> None:
        """Compose and send the same content on the next viable channel not yet tried for
        it: each channel at most once, whatever refused before."""
        if self.journey.required_channel(failed.communication):
            return  # no substitute for a legally required channel
        record = json.loads(self.store.get(failed.input_uri, failed.data_sha256))
        offered = (
            registry.notice_channels()
            if failed.communication == PORTAL_NOTICE
            else self.journey.channels
        )
        content = fallback_base(failed.idempotency_key)
        attempts = [content, *(fallback_key(content, c) for c in offered)]
        tried = {c.channel for c in self.ledger.by_keys(attempts).values()}
        chosen = route(record, [c for c in offered if c not in tried], self.journey.purpose)
        if chosen.suppressed:
            return
        key = fallback_key(content, chosen.channel)
        reason = f"fallback after {why}; {chosen.reason}"
        self._composer()(self.ledger, record, key, Route(chosen.channel, chosen.recipient, reason))
        self._deliver_composed(key)


def _title(comm: Communication) -> str:
    return comm.communication.replace("_", " ").capitalize()


def channel_factories(
    settings: Settings, store: ArtifactStore, providers: Providers
) -> dict[str, Callable[[], ChannelAdapter]]:
    """How to open each registered channel's adapter (only when a communication needs
    it); a channel needing provider settings is offered only when they are given."""
    return {
        channel.name: partial(
            channel.open_adapter,
            registry.Opening(settings, store, providers.get(channel.name)),
        )
        for channel in registry.channels()
        if providers.get(channel.name) is not None or not channel.needs_provider
    }


def _providers(
    smtp: Callable[[], Any] | None, sms: Callable[[], Any] | None, providers: Providers
) -> Providers:
    """``smtp``/``sms`` are shorthands for ``providers["email"]``/``providers["sms"]``."""
    return {"email": smtp, "sms": sms, **providers}


def _clock(now: datetime | None) -> Callable[[], datetime]:
    return (lambda: now) if now is not None else (lambda: datetime.now(UTC))


@contextmanager
def delivering(
    settings: Settings, store: ArtifactStore, providers: Providers
) -> Iterator[tuple[Ledger, ContactPolicy, "_Adapters", Holds]]:
    """What a delivering task works with: the ledger, the contact policy, the channels'
    adapters (one connection each, closed on exit) and the holds of failing channels."""
    with Ledger(settings.ledger_url) as ledger, ExitStack() as stack:
        policy = ContactPolicy(ledger, PolicyConfig.load(settings.contact_policy))
        store = sealed(store, ledger)  # the portal seals each document for its customer
        adapters = _Adapters(stack, channel_factories(settings, store, providers))
        yield ledger, policy, adapters, Holds()


def deliver_stage(
    journey: Journey,
    run: RunContext,
    settings: Settings,
    chunk: int,
    smtp: Callable[[], Any] | None = None,
    *,
    sms: Callable[[], Any] | None = None,
    providers: Providers = MappingProxyType({}),
    store: ArtifactStore | None = None,
    now: datetime | None = None,
) -> dict:
    """Send every ``composed`` communication of a chunk (and its fallbacks) that the
    contact policy admits at ``now`` (default: the clock), each channel over one
    connection. ``providers`` load each channel's provider settings (``smtp`` and
    ``sms``: the e-mail's and the SMS's)."""
    store = store or open_store(settings.archive_url)
    records = staging(run, settings, store).read_chunk(chunk)
    keys = [k for r in records for k in delivery_keys(journey, idempotency_key(journey, run, r))]
    with delivering(settings, store, _providers(smtp, sms, providers)) as session:
        ledger, policy, adapters, holds = session
        comms = ledger.by_keys(keys).values()
        outbox = _Outbox(
            journey, run, settings, store, ledger, adapters, policy, _clock(now), holds
        )
        pending = [c for c in comms if c.status == COMPOSED]
        progress = ledger.send_progress(c.communication_id for c in comms)
        live = [
            c
            for c in comms
            if c.status == SENDING and not outbox.recover(c, progress.get(c.communication_id))
        ]
        for comm in [c for c in comms if c.status == FAILED]:
            if getattr(progress.get(comm.communication_id), "stage", None) == FALLBACK_OWED:
                outbox.owed_fallback(comm)
        for comm in pending:
            outbox.deliver(comm)
        counts = Counter(c.status for c in ledger.by_keys(keys).values())
    log.info("chunk %d delivered: %s", chunk, dict(counts))
    holds.raise_if_any(f"chunk {chunk} ({dict(counts)})")
    if live:
        raise SendInProgress(
            f"chunk {chunk}: {len(live)} communication(s) still being sent by a live worker "
            f"(e.g. {live[0].communication_id}); retry once it has finished"
        )
    return dict(counts)


class SendInProgress(TransientFailure):
    """Another live worker holds some of the chunk's sends: retry the task later."""
