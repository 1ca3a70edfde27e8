"""Channel routing: preference first, then the fallbacks a communication allows.

A channel is viable when the customer consented to it for the purpose and the
contact data it needs is valid. Every decision carries a human-readable reason.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

ADDRESS_FIELDS = ("address_line1", "postal_code", "city")


@dataclass(frozen=True)
class Route:
    """Where a communication goes (``channel``/``recipient``) or why it does not."""

    channel: str | None
    recipient: str | None
    reason: str

    @property
    def suppressed(self) -> bool:
        return self.channel is None


def _email_problem(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    address = record.get("email")
    if not address:
        return None, "no e-mail address"
    try:
        return validate_email(address, check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return None, f"invalid e-mail address ({exc})"


def postal_address(record: Mapping[str, Any]) -> str:
    """The address block as printed in the envelope window, one line per field."""
    name = f"{record['first_name']} {record['last_name']}"
    town = f"{record['postal_code']} {record['city']}"
    lines = [name, record["address_line1"], record.get("address_line2"), town, record["country"]]
    return "\n".join(line for line in lines if line)


def _paper_problem(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    missing = [f for f in ADDRESS_FIELDS if not record.get(f)]
    if missing:
        return None, f"incomplete postal address (missing {', '.join(missing)})"
    return postal_address(record), None


def _sms_problem(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    from missiva.channels.sms import InvalidPhoneNumber, normalise_phone

    try:
        return normalise_phone(record.get("phone"), record.get("country")), None
    except InvalidPhoneNumber as exc:
        return None, f"no valid mobile number ({exc})"


def _portal_problem(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    customer = record.get("customer_id")
    return (str(customer), None) if customer else (None, "no customer account for the portal")


CHANNEL_CHECKS = {
    "email": _email_problem,
    "paper": _paper_problem,
    "sms": _sms_problem,
    "portal": _portal_problem,
}
#: Channels that are not a contact: the document waits in the customer's own portal
#: inbox (the notice telling them is an e-mail or SMS, with its own consent check)
NO_CONSENT_NEEDED = frozenset({"portal"})


def routing_inputs(record: Mapping[str, Any], purpose: str) -> dict[str, Any]:
    """The preference and consent state a routing decision reads (recorded for audit)."""
    state = {k: v for k, v in record.items() if k.startswith("consent_")}
    return {
        "purpose": purpose,
        "preferred_channel": record.get("preferred_channel"),
        "do_not_contact": bool(record.get("do_not_contact")),
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
        consented = channel in NO_CONSENT_NEEDED or record.get(f"consent_{channel}_{purpose}")
        if not consented and channel != required_channel:
            rejected.append(f"{channel}: no {purpose} consent")
            continue
        recipient, problem = CHANNEL_CHECKS[channel](record)
        if not problem and (channel, recipient) in invalid:
            problem = f"{recipient} hard-bounced before"
        if problem:
            rejected.append(f"{channel}: {problem}")
            continue
        how = "preferred channel" if channel == preferred else "fallback"
        how = "required channel" if channel == required_channel else how
        how = "requested channel" if channel == requested_channel else how
        detail = f" ({'; '.join(rejected)})" if rejected else ""
        return Route(channel, recipient, f"{how} {channel}{detail}")
    return Route(None, None, "no consented channel with valid contact data: " + "; ".join(rejected))
