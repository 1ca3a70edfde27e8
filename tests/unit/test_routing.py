"""Tests for channel routing: preference, consent, contact-data validity, fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from missiva.channels.paper import postal_address
from missiva.routing.rules import Route, route

CHANNELS = ("email", "paper")
PURPOSE = "transactional"


def make_record(**overrides: Any) -> dict[str, Any]:
    """An extracted onboarding record with every channel viable."""
    record: dict[str, Any] = {
        "row_id": 1,
        "customer_id": "C000001",
        "first_name": "Giulia",
        "last_name": "Bianchi",
        "email": "giulia.bianchi@example.com",
        "phone": "+393331234567",
        "language": "it",
        "address_line1": "Via Roma, 10",
        "address_line2": None,
        "postal_code": "00184",
        "city": "Roma",
        "country": "IT",
        "preferred_channel": "email",
        "do_not_contact": 0,
        "consent_email_transactional": 1,
        "consent_paper_transactional": 1,
        "consent_sms_transactional": 1,
    }
    record.update(overrides)
    return record


ADDRESS = "Giulia Bianchi\nVia Roma, 10\n00184 ROMA"  # as in the window: no home country


@pytest.mark.parametrize(
    ("preferred", "recipient"),
    [("email", "giulia.bianchi@example.com"), ("paper", ADDRESS)],
)
def test_preference_is_honoured(preferred: str, recipient: str) -> None:
    chosen = route(make_record(preferred_channel=preferred), CHANNELS, PURPOSE)
    assert chosen == Route(preferred, recipient, f"preferred channel {preferred}")
    assert not chosen.suppressed


def test_preference_wins_over_channel_order() -> None:
    chosen = route(make_record(preferred_channel="paper"), ("email", "paper"), PURPOSE)
    assert chosen.channel == "paper"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"consent_email_transactional": 0}, "email: no transactional consent"),
        ({"consent_email_transactional": None}, "email: no transactional consent"),
        ({"email": "giulia.bianchi@@example.com"}, "email: invalid e-mail address ("),
        ({"email": "giulia.bianchi.example.com"}, "email: invalid e-mail address ("),
        ({"email": "giulia bianchi@example.com"}, "email: invalid e-mail address ("),
        ({"email": "giulia@example"}, "email: invalid e-mail address ("),
        ({"email": None}, "email: no e-mail address"),
        ({"email": ""}, "email: no e-mail address"),
    ],
)
def test_email_impossible_falls_back_to_paper(overrides: dict, problem: str) -> None:
    chosen = route(make_record(preferred_channel="email", **overrides), CHANNELS, PURPOSE)
    assert chosen.channel == "paper"
    assert chosen.recipient == ADDRESS
    assert chosen.reason.startswith("fallback paper (")
    assert problem in chosen.reason


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"consent_paper_transactional": 0}, "paper: no transactional consent"),
        ({"address_line1": None}, "paper: incomplete postal address (missing address_line1)"),
        ({"postal_code": ""}, "paper: incomplete postal address (missing postal_code)"),
        (
            {"address_line1": None, "city": None},
            "paper: incomplete postal address (missing address_line1, city)",
        ),
    ],
)
def test_paper_impossible_falls_back_to_email(overrides: dict, problem: str) -> None:
    chosen = route(make_record(preferred_channel="paper", **overrides), CHANNELS, PURPOSE)
    assert chosen.channel == "email"
    assert chosen.recipient == "giulia.bianchi@example.com"
    assert chosen.reason == f"fallback email ({problem})"


def test_sms_preference_is_not_offered_and_falls_back_in_channel_order() -> None:
    record = make_record(preferred_channel="sms")
    chosen = route(record, CHANNELS, PURPOSE)
    assert chosen.channel == "email"
    assert chosen.reason == "fallback email (sms: not offered for this communication)"

    chosen = route(record, ("paper", "email"), PURPOSE)
    assert chosen.channel == "paper"
    assert "sms: not offered" in chosen.reason


def test_consent_is_per_purpose() -> None:
    record = make_record(consent_email_marketing=0, consent_paper_marketing=1)
    chosen = route(record, CHANNELS, "marketing")
    assert chosen.channel == "paper"
    assert "email: no marketing consent" in chosen.reason


@pytest.mark.parametrize("flag", [1, True])
def test_do_not_contact_is_suppressed_even_when_everything_is_viable(flag: object) -> None:
    chosen = route(make_record(do_not_contact=flag), CHANNELS, PURPOSE)
    assert chosen.suppressed
    assert chosen.channel is None
    assert chosen.recipient is None
    assert "do-not-contact" in chosen.reason


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        (
            {"consent_email_transactional": 0, "consent_paper_transactional": 0},
            ["email: no transactional consent", "paper: no transactional consent"],
        ),
        (
            {"email": None, "address_line1": None},
            [
                "email: no e-mail address",
                "paper: incomplete postal address (missing address_line1)",
            ],
        ),
        (
            {"email": "x@@example.com", "consent_paper_transactional": 0},
            ["email: invalid e-mail address (", "paper: no transactional consent"],
        ),
        (
            {"preferred_channel": "sms", "email": None, "city": None},
            [
                "sms: not offered for this communication",
                "email: no e-mail address",
                "paper: incomplete postal address (missing city)",
            ],
        ),
    ],
)
def test_nothing_viable_is_suppressed_naming_each_channels_problem(
    overrides: dict, problems: list[str]
) -> None:
    chosen = route(make_record(**overrides), CHANNELS, PURPOSE)
    assert chosen.suppressed
    assert chosen.recipient is None
    assert chosen.reason.startswith("no consented channel with valid contact data: ")
    for problem in problems:
        assert problem in chosen.reason
    # each channel's problem is named once, in the order the channels were tried
    positions = [chosen.reason.index(p) for p in problems]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("Giulia.Bianchi@EXAMPLE.COM", "Giulia.Bianchi@example.com"),
        ("giulia@Example.Org", "giulia@example.org"),
    ],
)
def test_email_recipient_is_normalized(given: str, normalized: str) -> None:
    chosen = route(make_record(email=given), CHANNELS, PURPOSE)
    assert chosen.channel == "email"
    assert chosen.recipient == normalized


def test_postal_address_block_skips_empty_lines() -> None:
    record = make_record(address_line2="Scala B, interno 4")
    assert postal_address(record) == (
        "Giulia Bianchi\nVia Roma, 10\nScala B, interno 4\n00184 ROMA"
    )
    assert postal_address(make_record(address_line2="")) == ADDRESS


def test_sms_goes_to_the_e164_mobile_number():
    chosen = route(
        make_record(preferred_channel="sms", phone="333 123 4567"), ("sms", "paper"), PURPOSE
    )
    assert chosen == Route("sms", "+393331234567", "preferred channel sms")


def test_an_invalid_mobile_number_falls_back_with_the_reason():
    chosen = route(make_record(preferred_channel="sms", phone="12"), ("sms", "paper"), PURPOSE)
    assert chosen.channel == "paper"
    assert chosen.reason.startswith("fallback paper (sms: no valid mobile number")


def test_a_legally_required_channel_overrides_preference_and_consent():
    record = make_record(preferred_channel="email", consent_paper_transactional=0)
    chosen = route(record, CHANNELS, PURPOSE, required_channel="paper")
    assert chosen.channel == "paper"
    assert chosen.reason == "required channel paper (paper is legally required)"


def test_a_legally_required_channel_that_is_impossible_is_not_replaced():
    record = make_record(address_line1=None)
    chosen = route(record, CHANNELS, PURPOSE, required_channel="paper")
    assert chosen.suppressed
    assert "paper: incomplete postal address" in chosen.reason


def test_a_hard_bounced_address_is_skipped_for_the_fallback():
    invalid = {("email", "giulia.bianchi@example.com")}
    chosen = route(make_record(), CHANNELS, PURPOSE, invalid=invalid)
    assert chosen.channel == "paper"
    assert "email: the address hard-bounced before" in chosen.reason
    assert "giulia" not in chosen.reason  # reasons reach logs and XCom: no address


# A requested channel (an on-demand request): overrides preference, not consent.
def test_requested_channel_overrides_the_preference():
    chosen = route(make_record(), CHANNELS, PURPOSE, requested_channel="paper")
    assert chosen.channel == "paper"
    assert chosen.reason == "requested channel paper"


def test_requested_channel_without_consent_sends_nothing_no_fallback():
    record = make_record(consent_sms_transactional=0)
    chosen = route(record, CHANNELS, PURPOSE, requested_channel="sms")
    assert chosen.suppressed
    assert "sms: no transactional consent" in chosen.reason


def test_requested_channel_without_contact_data_sends_nothing():
    chosen = route(make_record(email=None), CHANNELS, PURPOSE, requested_channel="email")
    assert chosen.suppressed
    assert "email: no e-mail address" in chosen.reason


def test_do_not_contact_and_legal_requirements_still_win():
    flagged = make_record(do_not_contact=1)
    assert route(flagged, CHANNELS, PURPOSE, requested_channel="email").suppressed
    required = route(
        make_record(), CHANNELS, PURPOSE, required_channel="paper", requested_channel="email"
    )
    assert required.channel == "paper"
