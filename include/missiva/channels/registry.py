"""The channel registry: each channel declared once, as one frozen :class:`Channel`.

Routing, composition, the outbox, the contact policy, evidence packs and the auditor
page read a channel's behaviour here instead of keeping their own tables. The built-in
channels declare themselves in their modules (``smtp``, ``sms``, ``paper``, ``portal``)
and register when :mod:`missiva.channels` is imported; a new channel is one module
that calls :func:`register`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from missiva.channels.base import ChannelAdapter

if TYPE_CHECKING:
    from missiva.composition import Composer, Provenance
    from missiva.records.store import ArtifactStore
    from missiva.settings import Settings

#: record -> (recipient, None) when the channel can reach the customer, else (None, why)
ContactCheck = Callable[[Mapping[str, Any]], tuple[str | None, str | None]]


@dataclass(frozen=True)
class Rendering:
    """What a channel's ``compose`` gets: one routed communication to render."""

    composer: "Composer"
    communication: str
    context: Mapping[str, Any]
    settings: "Settings"
    recipient: str
    date: datetime
    rendition: str


@dataclass(frozen=True)
class Rendered:
    """The exact bytes to deliver, the template that rendered them, the blocks used."""

    data: bytes
    provenance: "Provenance"
    blocks: Mapping[str, str]


@dataclass(frozen=True)
class Opening:
    """What a channel's adapter factory gets. ``provider`` loads the channel's provider
    settings (an Airflow Connection in production); ``None`` when none was given."""

    settings: "Settings"
    store: "ArtifactStore"
    provider: Callable[[], Any] | None


def compose_text(request: Rendering) -> Rendered:
    """The default ``compose``: the channel's rendition rendered as UTF-8 text."""
    text, provenance = request.composer.render_rendition(
        request.communication, request.rendition, request.context
    )
    return Rendered(text.encode(), provenance, provenance.blocks)


@dataclass(frozen=True)
class Channel:
    """Everything the platform needs to know about one channel."""

    name: str
    #: routing: who the customer is on this channel, or why they cannot be reached
    contact: ContactCheck
    #: the archived artifact: file extension and content type
    extension: str
    content_type: str
    #: the rendition it composes; ``template`` names the channel's own template file in
    #: ``communications/<name>/`` (``None``: one of the composer's built-in renditions)
    rendition: str
    #: how to open its adapter for one batch
    open_adapter: Callable[[Opening], ChannelAdapter]
    compose: Callable[[Rendering], Rendered] = compose_text
    template: str | None = None
    #: whether the adapter needs provider settings (else the channel is not offered)
    needs_provider: bool = False
    #: ``False``: not a contact (a document in the customer's own inbox): no consent
    #: check and no contact policy
    needs_consent: bool = True
    #: a send left unfinished by a dead worker may be repeated without a second effect
    resend_safe: bool = False
    #: the contact policy's quiet hours apply (by default; the policy file may override)
    quiet_hours: bool = False
    #: it may carry a portal notice (in registration order after the preference)
    carries_notice: bool = False
    #: the document waits for the customer: a portal notice with its link tells them
    sends_notice: bool = False
    #: its sent artifacts go into the run's print batches
    printed: bool = False


_CHANNELS: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    """Add (or replace, by name) a channel; returns it."""
    _CHANNELS[channel.name] = channel
    return channel


def unregister(name: str) -> None:
    """Remove a channel (tests registering a toy channel clean up with this)."""
    _CHANNELS.pop(name, None)


def get(name: str) -> Channel:
    try:
        return _CHANNELS[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r} (registered: {', '.join(_CHANNELS)})") from None


def channels() -> tuple[Channel, ...]:
    """The registered channels, in registration order."""
    return tuple(_CHANNELS.values())


def names(**flags: bool) -> tuple[str, ...]:
    """The names of the channels whose attributes equal ``flags`` (e.g. ``printed=True``)."""
    return tuple(
        c.name for c in _CHANNELS.values() if all(getattr(c, k) == v for k, v in flags.items())
    )


def notice_channels() -> tuple[str, ...]:
    """The channels a portal notice may take, in order after the customer's preference."""
    return names(carries_notice=True)


def channel_renditions() -> dict[str, str]:
    """Rendition -> template file, for the channels that bring their own template."""
    return {c.rendition: c.template for c in _CHANNELS.values() if c.template}
