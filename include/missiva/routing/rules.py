"""Channel routing: preference first, then the fallbacks a communication allows.

A channel is viable when the customer consented to it for the purpose (unless the
channel needs no consent) and the contact data it needs is valid (the channel's own
check, see :mod:`missiva.channels.registry`). Every decision carries a human-readable reason.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from missiva.channels import registry


@dataclass(frozen=True)
class Route:
    """Where a communication goes (``channel``/``recipient``) or why it does not."""

    channel: str | None
    recipient: str | None
    reason: str

    @property
    def suppressed(self) -> bool:
        return self.channel is None


def routing_inputs(record: Mapping[str, Any], purpose: str) -> dict[str, Any]:
    """The preference and consent state a routing decision reads, and the time zone the
    contact policy's quiet hours read when it is sent (recorded for audit)."""
    state = {k: v for k, v in record.items() if k.startswith("consent_")}
    return {
        "purpose": purpose,
        "preferred_channel": record.get("preferred_channel"),
        "do_not_contact": bool(record.get("do_not_contact")),
        "timezone": record.get("timezone"),
        **state,
    }


def route(
    record: Mapping[str, Any],
    channels: Sequence[str],
    purpose: str,
    *,
    required_channel: str | None = None,
    requested_channel: str | None = None,
    invalid: Collection[tuple[str, str]] = (),
) -> Route:
    """Pick the first viable channel: the customer's preference, then ``channels`` in
    order (the fallbacks). A ``required_channel`` (a legal obligation, e.g. a claims
    decision on paper) overrides preference and fallbacks. A ``requested_channel`` (an
    on-demand request) overrides preference and fallbacks but not consent nor contact
    validity: when it is not viable, nothing is sent. ``invalid`` holds the
    (channel, address) pairs known to fail (hard bounces), which are skipped."""
    if record.get("do_not_contact"):
        return Route(None, None, "customer is flagged do-not-contact")
    preferred = record.get("preferred_channel")
    rejected = []
    if required_channel:
        order = [required_channel]
        rejected.append(f"{required_channel} is legally required")
    elif requested_channel:
        order = [requested_channel]
    else:
        order = [preferred] if preferred in channels else []
        order += [c for c in channels if c != preferred]
        if not preferred:
            rejected.append("no preferred channel recorded")
        elif preferred not in channels:
            rejected.append(f"{preferred}: not offered for this communication")
    for channel in order:
        declared = registry.get(channel)
        consented = not declared.needs_consent or record.get(f"consent_{channel}_{purpose}")
        if not consented and channel != required_channel:
            rejected.append(f"{channel}: no {purpose} consent")
            continue
        recipient, problem = declared.contact(record)
        if not problem and (channel, recipient) in invalid:
            problem = "the address hard-bounced before"
        if problem:
            rejected.append(f"{channel}: {problem}")
            continue
        how = "preferred channel" if channel == preferred else "fallback"
        how = "required channel" if channel == required_channel else how
        how = "requested channel" if channel == requested_channel else how
        detail = f" ({'; '.join(rejected)})" if rejected else ""
        return Route(channel, recipient, f"{how} {channel}{detail}")
    return Route(None, None, "no consented channel with valid contact data: " + "; ".join(rejected))
