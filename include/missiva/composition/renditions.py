"""The artifact one routed communication is delivered as: its channel composes it."""

from datetime import datetime
from typing import Any

from missiva.channels import registry
from missiva.composition import Composer, Provenance
from missiva.routing.rules import Route
from missiva.settings import Settings


def channel_artifact(
    composer: Composer,
    communication: str,
    settings: Settings,
    context: dict[str, Any],
    chosen: Route,
    date: datetime,
) -> tuple[bytes, str, Provenance, dict[str, str]]:
    """The exact bytes to deliver ``communication`` on ``chosen.channel``, their content
    type, the template that rendered them and the versions of every block used."""
    channel = registry.get(chosen.channel)
    request = registry.Rendering(
        composer, communication, context, settings, chosen.recipient, date, channel.rendition
    )
    rendered = channel.compose(request)
    return rendered.data, channel.content_type, rendered.provenance, dict(rendered.blocks)
