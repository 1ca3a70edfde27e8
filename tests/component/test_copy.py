"""Copy that reads right in both languages, and who each e-mail comes from."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default as default_policy

import pytest

from missiva.composition import Composer, sample_record
from missiva.composition.mime import build_email, communication_sender
from missiva.paths import TEMPLATES_DIR

COMPOSER = Composer(TEMPLATES_DIR)  # production: the approved versions
DEFAULT_SENDER = "Missiva Assicurazioni <welcome@missiva.example>"
COMMUNICATIONS = sorted(
    p.parent.name for p in (TEMPLATES_DIR / "communications").glob("*/meta.json")
)


@pytest.mark.parametrize("name", COMMUNICATIONS)
def test_english_goes_on_in_capitals_after_the_salutation(name: str) -> None:
    text = COMPOSER.render_email(name, sample_record(TEMPLATES_DIR, name, "en")).text
    after = text.split("Dear ", 1)[1].split("\n", 1)[1].lstrip()  # the next words
    assert after[:1].isupper(), after[:60]


@pytest.mark.parametrize(
    ("lang", "name", "wrong"),
    [("it", "Decisione sul sinistro", "Claim decision"), ("en", "Claim decision", "Decisione")],
)
def test_a_portal_notice_names_the_document_in_the_customers_language(
    lang: str, name: str, wrong: str
) -> None:
    record = {
        **sample_record(TEMPLATES_DIR, "portal_notice", lang),
        "document_title": "Claim decision",
    }
    mail = COMPOSER.render_email("portal_notice", record)
    sms = COMPOSER.render_sms("portal_notice", record).text
    for text in (mail.text, mail.html, sms):
        assert name in text
    assert wrong not in sms


def test_an_unknown_document_keeps_the_title_it_was_given() -> None:
    record = {**sample_record(TEMPLATES_DIR, "portal_notice", "it"), "document": "brand_new"}
    record["document_title"] = "Brand new"
    assert "Brand new" in COMPOSER.render_sms("portal_notice", record).text


@pytest.mark.parametrize(
    ("name", "sender", "reply_to"),
    [
        ("welcome", DEFAULT_SENDER, "clienti@missiva.example"),
        (
            "billing_statement",
            "Missiva Assicurazioni <billing@missiva.example>",
            "billing@missiva.example",
        ),
        (
            "claim_decision",
            "Missiva Assicurazioni <claims@missiva.example>",
            "claims@missiva.example",
        ),
    ],
)
def test_each_communication_has_its_own_sender_and_reply_to(
    name: str, sender: str, reply_to: str
) -> None:
    chosen = communication_sender(DEFAULT_SENDER, COMPOSER.sender(name))
    assert chosen == (sender, reply_to)
    wire = build_email(
        sender=chosen[0],
        reply_to=chosen[1],
        to_name="Giulia Bianchi",
        to_address="giulia@example.com",
        subject="s",
        text="t",
        html="<p>h</p>",
        message_id="<x@missiva.example>",
        date=datetime(2026, 11, 2, tzinfo=UTC),
    )
    message = email.message_from_bytes(wire, policy=default_policy)
    assert message["From"] == sender and message["Reply-To"] == reply_to


def test_a_declared_whole_address_and_no_declaration() -> None:
    assert communication_sender(DEFAULT_SENDER, {}) == (DEFAULT_SENDER, None)
    assert communication_sender(DEFAULT_SENDER, {"reply_to": "help@other.example"}) == (
        DEFAULT_SENDER,
        "help@other.example",
    )
