"""What a user without the contact-data permission sees on the auditor pages, and how a
page tells an edited ledger row (pure helpers of missiva.orchestration.auditor_views;
the pages themselves are tested in tests/e2e/test_auditor_ui.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_fixtures import cid, email_fields, raw_sql, send

from missiva.orchestration.auditor_views import MASK, Masker, phone_regions, row_problem
from missiva.records import audit
from missiva.records.ledger import Ledger

REASON = (
    "sms: invalid phone number for IT (+39 347 765 4321 is not allocated); "
    "fallback 020 7946 0958 refused; email: maria.rossi@example.org bounced"
)


def test_a_reason_loses_its_phone_numbers_and_addresses() -> None:
    shown = Masker(True, regions=["GB"]).text(REASON)
    assert shown == (
        f"sms: invalid phone number for IT ({MASK} is not allocated); "
        f"fallback {MASK} refused; email: m{MASK}@{MASK}.org bounced"
    )


def test_national_numbers_are_found_in_the_regions_given_only() -> None:
    """Without a region, only international (+...) numbers can be told from other digits."""
    assert "020 7946 0958" in Masker(True).text(REASON)
    assert "020 7946 0958" not in Masker(True, regions=["gb"]).text(REASON)


def test_fictional_international_numbers_are_masked_too() -> None:
    """Ofcom's drama range is invalid for libphonenumber, but is a number to a reader."""
    assert Masker(True).text("call +44 7700 900123 now") == f"call {MASK} now"


def test_ids_dates_and_hashes_are_not_taken_for_numbers() -> None:
    text = "C000123 on 2026-11-02 09:00, sha 4f3a9b1234567890abcdef, try 3"
    assert Masker(True, regions=["IT", "GB"]).text(text) == text


def test_a_permitted_reader_sees_everything() -> None:
    masker = Masker(False, ["Maria Rossi"], regions=["GB"])
    assert masker.text(REASON) == REASON
    assert masker.record({"phone": "+393471234567"}) == {"phone": "+393471234567"}


def test_a_record_masks_contact_fields_whole_and_other_text_by_shape() -> None:
    record = {
        "customer_id": "C000123",
        "mobile": "+39 347 123 4567",
        "email": "mario@example.it",
        "note": "ring Mario at +39 347 123 4567 or mario@example.it",
        "consent_email_marketing": True,
    }
    masker = Masker(True, Masker.contact_values(record))
    assert masker.record(record) == {
        "customer_id": "C000123",
        "mobile": MASK,
        "email": f"m{MASK}@{MASK}.it",
        "note": f"ring Mario at {MASK} or {MASK}",
        "consent_email_marketing": True,
    }


def test_phone_regions_come_from_the_record_and_phone_recipients() -> None:
    recipients = ["+393471112233", "someone@example.org", None, "Via Roma 1\n00100 Roma"]
    assert phone_regions({"country": "GB"}, recipients) == ["GB", "IT"]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.add(**email_fields(1, consent_state={"consent_email_transactional": 1}))
        send(ledger, 1, at=ledger.get(cid(1)).created_at)
        yield ledger


def test_an_intact_row_passes(ledger: Ledger) -> None:
    assert row_problem(ledger.get(cid(1)), audit.show(ledger, cid(1))["events"]) is None


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "bounced"), ("recipient", "other@example.org"), ("artifact_sha256", "0" * 64)],
)
def test_an_edited_row_fails(ledger: Ledger, column: str, value: str) -> None:
    raw_sql(
        ledger.engine.url.render_as_string(hide_password=False),
        f"UPDATE communications SET {column} = :value WHERE communication_id = :id",
        value=value,
        id=cid(1),
    )
    problem = row_problem(ledger.get(cid(1)), audit.show(ledger, cid(1))["events"])
    assert problem is not None and "the row was edited" in problem
