"""Phone numbers and Retry-After for the SMS channel: pure parsing, no provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from missiva.channels.sms import InvalidPhoneNumber, normalise_phone, parse_retry_after


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("312 345 6789", "IT", "+393123456789"),
        ("0039 312 3456789", "it", "+393123456789"),
        ("+39 312-345-6789", None, "+393123456789"),
        ("07911 123456", "GB", "+447911123456"),
        ("+44 7911 123456", "IT", "+447911123456"),  # international form wins over country
    ],
)
def test_normalise_phone_to_e164(raw: str, country: str | None, e164: str) -> None:
    assert normalise_phone(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("", "IT", "no phone number"),
        (None, "IT", "no phone number"),
        ("not a number", "IT", "not a phone number"),
        ("12", "IT", "invalid phone number for IT"),
        ("312 345 6789", None, "not a phone number"),  # national form needs a country
        ("+44 20 7946 0958", None, "not a mobile number"),  # London landline
        ("+44 7700 900123", "GB", "invalid phone number for GB \\(not allocated\\)"),
    ],
)
def test_normalise_phone_rejects_with_reason(raw: Any, country: str | None, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=message) as info:
        normalise_phone(raw, country)
    digits = "".join(c for c in str(raw or "") if c.isdigit())
    reason = "".join(c for c in str(info.value) if c.isdigit())
    assert len(digits) < 7 or digits[-7:] not in reason, "reasons reach logs: no number"


def test_landline_accepted_when_mobile_not_required() -> None:
    assert normalise_phone("020 7946 0958", "GB", mobile_only=False) == "+442079460958"


def test_fictional_range_only_on_request() -> None:
    """Ofcom's drama range (the demo seed's GB numbers) is unallocated, hence invalid."""
    with pytest.raises(InvalidPhoneNumber, match="not allocated"):
        normalise_phone("+447700900123", "GB")
    assert normalise_phone("07700 900123", "GB", allow_fictional=True) == "+447700900123"
    with pytest.raises(InvalidPhoneNumber):  # the flag opens that range only
        normalise_phone("+44 7700 90012", "GB", allow_fictional=True)


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("7", now.timestamp()) == 7.0
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(90.0)
    assert parse_retry_after("-3", now.timestamp()) == 0.0
    assert parse_retry_after("soon", now.timestamp()) is None
    assert parse_retry_after(None, now.timestamp()) is None
