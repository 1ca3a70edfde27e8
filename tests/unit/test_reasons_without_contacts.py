"""Failure reasons end in task logs, XCom and the run's report: they name the problem,
never the customer's address or number (pure: no server)."""

import pytest

from missiva.channels.smtp import email_contact
from missiva.text_safety import REDACTED, redact_contacts


@pytest.mark.parametrize(
    "address",
    [
        "giulia.bianchi@@example.com",
        "giulia bianchi@example.com",
        "giulia@example",
        "giulia@exa mple.com",
        "giulia.bianchi@example..com",
        "<giulia>@example.com",
    ],
)
def test_an_invalid_e_mail_address_is_not_echoed_in_its_reason(address):
    recipient, reason = email_contact({"email": address})
    assert recipient is None and reason.startswith("invalid e-mail address (")
    assert "giulia" not in reason and "example" not in reason, reason


@pytest.mark.parametrize(
    ("reply", "values", "expected"),
    [
        (
            "550 5.1.1 <Mario.Rossi@Example.com>: Recipient address rejected: User unknown",
            ["mario.rossi@example.com"],
            f"550 5.1.1 <{REDACTED}>: Recipient address rejected: User unknown",
        ),
        ("550 unknown user mario.rossi@example.com", [], f"550 unknown user {REDACTED}"),
        (
            "destination +39 347 765 4321 blocked",
            ["+393477654321"],
            f"destination {REDACTED} blocked",
        ),
        ('{"to": "+393477654321", "code": 21211}', [], f'{{"to": "{REDACTED}", "code": 21211}}'),
        ("number 3477654321 unreachable", [], f"number {REDACTED} unreachable"),
        ("451 try again later", ["+393477654321"], "451 try again later"),
        ("invalid local part: Ζωή", ["Ζωή@example.com", "Ζωή"], f"invalid local part: {REDACTED}"),
    ],
)
def test_redact_contacts(reply, values, expected):
    assert redact_contacts(reply, *values) == expected


def test_short_values_are_not_redacted_inside_words():
    assert redact_contacts("recipient refused", "re", None, "") == "recipient refused"


def test_a_ledger_error_shows_the_sql_not_the_values(tmp_path):
    """A failed ledger write's exception (in the task log) holds no recipient."""
    from ledger_fixtures import email_fields
    from sqlalchemy.exc import IntegrityError

    from missiva.records.ledger import Ledger

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with ledger, pytest.raises(IntegrityError) as info:
        ledger.add(**email_fields(1, journey=None))  # NOT NULL
    assert "INSERT INTO communications" in str(info.value)
    assert "c1@example.com" not in str(info.value)
