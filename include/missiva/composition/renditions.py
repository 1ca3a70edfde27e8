"""The artifact one routed communication is delivered as, per channel."""

from datetime import datetime
from typing import Any

from missiva.channels.base import ARTIFACT_TYPES
from missiva.composition import Composer, Provenance
from missiva.composition.mime import build_email
from missiva.journey import Journey
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
    comm_id = context["communication_id"]
    content_type = ARTIFACT_TYPES[chosen.channel][1]
    if chosen.channel == "sms":
        sms = composer.render_sms(communication, context)
        return sms.text.encode(), content_type, sms.provenance, sms.provenance.blocks
    if chosen.channel == "portal":
        web = composer.render_web(communication, context)
        return web.html.encode(), content_type, web.provenance, web.provenance.blocks
    letter = None
    if "letter_pdf" in composer.renditions(communication):
        letter = composer.render_letter(communication, context)
    if chosen.channel == "paper":
        return letter.pdf, content_type, letter.provenance, letter.provenance.blocks
    email = composer.render_email(communication, context)
    message = build_email(
        sender=settings.sender,
        to_name=f"{context['first_name']} {context['last_name']}",
        to_address=chosen.recipient,
        subject=email.subject,
        text=email.text,
        html=email.html,
        message_id=f"<{comm_id}@{settings.message_id_domain}>",
        date=date,
        attachments={Journey.attachment_name(communication): letter.pdf} if letter else {},
        headers={"X-Missiva-Communication-Id": comm_id},
    )
    blocks = {**(letter.provenance.blocks if letter else {}), **email.provenance.blocks}
    return message, content_type, email.provenance, blocks
