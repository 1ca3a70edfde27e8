"""Record-level checks every journey gets before composing (issue 13, item 2)."""

import json

import pytest

from missiva.sources.record_checks import MAX_FIELD_CHARS, record_problems

GOOD = {
    "row_id": 1,
    "customer_id": "C1",
    "first_name": "Giulia",
    "last_name": "Bianchi",
    "email": "giulia.bianchi@example.com",
    "address_line1": "Via Roma 1",
    "address_line2": None,
    "postal_code": "20121",
    "city": "Milano",
    "country": "IT",
    "preferred_channel": "paper",
    "consent_email_transactional": 1,
}


def problems(**changes) -> list[str]:
    return record_problems({**GOOD, **changes})


def test_a_good_record_has_no_problem() -> None:
    assert problems() == []


LONG_STREET = "Via della Lunghissima Strada Provinciale 1"
CASES = {
    "crlf": (
        {"address_line1": "Via Roma 1\r\nBcc: x@example.com"},
        "address_line1 contains U+000A LINE FEED, U+000D CARRIAGE RETURN",
    ),
    "nul": ({"city": "Mi\x00lano"}, "city contains U+0000 NUL"),
    "rlo": ({"last_name": "Rossi\u202egnp.exe"}, "last_name contains U+202E RIGHT-TO-LEFT"),
    "isolates": (
        {"first_name": "\u2066Anna\u2069"},
        "first_name contains U+2066 LEFT-TO-RIGHT ISOLATE, U+2069 POP DIRECTIONAL ISOLATE",
    ),
    "huge": (
        {"product": "x" * (MAX_FIELD_CHARS + 1)},
        f"product is {MAX_FIELD_CHARS + 1:,} characters long",
    ),
    "json-field": ({"lines": json.dumps([{"label": "Fee\nBcc: x"}])}, "lines contains U+000A"),
    "blank": ({"first_name": "   "}, "first_name is blank"),
    "no-postcode": ({"postal_code": ""}, "incomplete postal address (missing postal_code)"),
    "window": ({"address_line1": LONG_STREET}, "postal address line 2 has 42 characters"),
    "email": ({"email": "mario@@example.org"}, "invalid e-mail address"),
    "email-no-tld": ({"email": "mario@example"}, "invalid e-mail address"),
}


@pytest.mark.parametrize(("changes", "reason"), CASES.values(), ids=CASES.keys())
def test_each_problem_is_named(changes: dict, reason: str) -> None:
    found = problems(**changes)
    assert any(reason in p for p in found), found


def test_the_window_matters_only_to_customers_who_prefer_paper() -> None:
    assert problems(address_line1=LONG_STREET, preferred_channel="email") == []


@pytest.mark.parametrize("address", ["mario@exämple.org", "maría@example.org"])
def test_international_addresses_pass_for_delivery_to_decide(address: str) -> None:
    assert problems(email=address) == []
