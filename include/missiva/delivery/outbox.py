"""Delivery of composed communications: the outbox, exactly once per communication.

Only ``composed`` (or due ``deferred``) communications are sent. Just before each send
the contact policy (:mod:`missiva.routing.contact_policy`) reserves the contact: ``suppress``
ends the communication ``suppressed`` with the policy's reason, ``defer`` records it
``deferred`` with ``not_before`` (the ``deferred_deliveries`` DAG sends it later). Each
send is bracketed by ``sending`` and ``sent``/``failed``. A permanent refusal, or a
message this channel cannot carry (an encoding error), marks the communication failed,
releases its reservation and composes its fallback channel; a communication left
``sending`` by a dead worker is recovered. A channel that is down, or a recipient that
keeps failing, holds back only its own communications (:mod:`missiva.delivery.holds`).
"""

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
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
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from missiva.delivery.holds import Holds
from missiva.flow import Composition, staging
from missiva.journey import PORTAL_NOTICE, Journey
from missiva.records.keys import (
    delivery_keys,
    fallback_base,
    fallback_key,
    idempotency_key,
    notice_key,
)
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
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
        self.store, self.ledger, self.adapters = store, ledger, adapters
        self.policy, self.now, self.holds = policy, now, holds
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

    def _send(self, comm: Communication, data: bytes, adapter: ChannelAdapter) -> SendResult:
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
        )
        result = adapter.send(delivery)
        if channel.sends_notice:
            self._notify(comm, result.provider_message_id)
        return result

    def recover(self, comm: Communication) -> None:
        """A communication left ``sending`` by a worker that died mid-send. Printing is
        idempotent and the SMS provider de-duplicates on the idempotency key: send again.
        An e-mail may or may not have been accepted by the server: never resend it; flag
        it for review (a later delivery report settles it)."""
        if registry.get(comm.channel).resend_safe:
            self.ledger.transition(comm.communication_id, SENDING, COMPOSED)
            self.deliver(self.ledger.get(comm.communication_id))
            return
        reason = (
            "outcome unknown: the worker stopped after handing the message to the server and "
            f"before recording the result (try {comm.try_number}); not resent — its "
            "Message-ID lets the mail system de-duplicate; check the server log"
        )
        self.ledger.transition(comm.communication_id, SENDING, REVIEW, reason=reason)

    def _admitted(self, comm: Communication) -> bool:
        """Reserve the contact under the policy; record a suppression or deferral. A
        channel that needs no consent (a portal document: its notice is the contact) is
        not under the policy."""
        if not registry.get(comm.channel).needs_consent:
            return True
        record = json.loads(self.store.get(comm.input_uri, comm.data_sha256))
        decision = self.policy.reserve(
            comm.customer_id,
            comm.channel,
            self.journey.purpose,
            fallback_base(comm.idempotency_key),
            comm.communication_id,
            record.get("timezone"),
            self.now(),
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
        return decision.allowed

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
        if not self._admitted(comm):
            return
        data = self.store.get(comm.artifact_uri, comm.artifact_sha256)
        who = {"task_id": self.run.task_id, "try_number": self.run.try_number}
        self.ledger.transition(comm.communication_id, comm.status, SENDING, **who)
        try:
            result = self._send(comm, data, adapter)
        except PermanentFailure as exc:
            self._fail(comm, f"{comm.channel} refused: {exc}")
            return
        except UNSENDABLE as exc:
            self._fail(comm, f"{comm.channel} cannot carry it: {type(exc).__name__}: {exc}")
            return
        except (TransientFailure, ChannelConfigurationError) as exc:  # not sent: later
            self.ledger.transition(comm.communication_id, SENDING, COMPOSED)
            if isinstance(exc, TransientFailure):
                self.holds.failed(comm, exc)
            else:
                self.holds.hold_channel(comm, exc)
            return
        except BaseException:  # outcome known not to be a send: retry later
            self.ledger.transition(comm.communication_id, SENDING, COMPOSED)
            raise
        self.holds.succeeded(comm.channel)
        self.ledger.transition(
            comm.communication_id,
            SENDING,
            SENT,
            note=result.note,
            provider_message_id=result.provider_message_id,
            sent_at=datetime.now(UTC),
        )
        if registry.get(comm.channel).sends_notice:
            self._deliver_composed(notice_key(comm.idempotency_key))

    def resume_fallback(self, comm: Communication) -> None:
        """``comm`` was refused and recorded ``failed`` by a worker that died before its
        fallback was in the ledger: release its contact and fall back now."""
        self.policy.release(comm.communication_id)
        self._fall_back(comm, comm.reason or f"{comm.channel} refused")

    def _fail(self, comm: Communication, reason: str) -> None:
        """This message can never go out on its channel: record it failed, release the
        contact, and fall back to the next channel."""
        self.ledger.transition(comm.communication_id, SENDING, FAILED, reason=reason)
        self.policy.release(comm.communication_id)
        self._fall_back(comm, reason)

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


def _fallbacks_lost(ledger: Ledger, comms: Iterable[Communication]) -> list[Communication]:
    """The communications the outbox recorded ``failed`` (they were ``sending``) that are
    still the last attempt of their content: their fallback was never recorded."""
    last: dict[str, Communication] = {}
    for comm in sorted(comms, key=lambda c: c.created_at):
        last[fallback_base(comm.idempotency_key)] = comm
    return [
        c
        for c in last.values()
        if c.status == FAILED and any(e.kind == SENDING for e in ledger.events(c.communication_id))
    ]


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
        for comm in [c for c in comms if c.status == SENDING]:
            outbox.recover(comm)
        for comm in _fallbacks_lost(ledger, comms):
            outbox.resume_fallback(comm)
        for comm in pending:
            outbox.deliver(comm)
        counts = Counter(c.status for c in ledger.by_keys(keys).values())
    log.info("chunk %d delivered: %s", chunk, dict(counts))
    holds.raise_if_any(f"chunk {chunk} ({dict(counts)})")
    return dict(counts)
