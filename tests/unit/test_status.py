"""The status machine, declared once in ``missiva.records.status``, as the ledger enforces
it: every declared transition is accepted, every other one refused and named."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest
from ledger_fixtures import fields

from missiva.records import status
from missiva.records.errors import LedgerError
from missiva.records.ledger import Ledger

UNDECLARED = sorted(set(product(status.STATUSES, repeat=2)) - status.TRANSITIONS)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


def test_every_status_is_final_or_in_flight_and_not_both() -> None:
    assert set(status.FINAL) | set(status.IN_FLIGHT) == set(status.STATUSES)
    assert not set(status.FINAL) & set(status.IN_FLIGHT)
    assert len(status.STATUSES) == len(set(status.STATUSES))


def test_transitions_are_between_declared_statuses() -> None:
    assert {s for pair in status.TRANSITIONS for s in pair} <= set(status.STATUSES)
    assert set(status.NOT_HANDED_OVER) <= set(status.STATUSES)


def test_final_statuses_leave_only_as_reports_or_a_review_declare() -> None:
    """The outbox is done with a final status: only a provider's report moves it on, or
    a person settling a ``review`` (sent, failed, or composed to be sent again)."""
    by_report = {pair for effects in status.REPORT_EFFECTS.values() for pair in effects.items()}
    leaving_final = {(old, new) for old, new in status.TRANSITIONS if old in status.FINAL}
    by_person = {("review", "sent"), ("review", "failed"), ("review", "composed")}
    assert leaving_final == by_report | by_person
    assert by_report == {("sent", "bounced"), ("review", "bounced"), ("review", "sent")}
    for final in ("suppressed", "quarantined", "failed", "bounced", "cancelled"):
        assert not [new for old, new in status.TRANSITIONS if old == final]


def test_report_effects_are_about_known_reports() -> None:
    assert set(status.REPORT_EFFECTS) <= set(status.DELIVERY_REPORTS)
    assert set(status.UNDELIVERABLE_REPORTS) <= set(status.REPORT_EFFECTS)


@pytest.mark.parametrize(("old", "new"), sorted(status.TRANSITIONS))
def test_each_declared_transition_is_accepted(ledger: Ledger, old: str, new: str) -> None:
    comm_id = fields(1)["communication_id"]
    ledger.add(**fields(1, status=old))
    ledger.transition(comm_id, old, new)
    assert ledger.get(comm_id).status == new
    assert [e.kind for e in ledger.events(comm_id)] == [old, new]
    assert ledger.verify_chain() == []


@pytest.mark.parametrize(("old", "new"), UNDECLARED)
def test_an_undeclared_transition_is_refused_by_name(ledger: Ledger, old: str, new: str) -> None:
    comm_id = fields(1)["communication_id"]
    ledger.add(**fields(1, status=old))
    with pytest.raises(LedgerError, match=f"transition '{old}' -> '{new}' is not allowed"):
        ledger.transition(comm_id, old, new)
    assert ledger.get(comm_id).status == old
    assert len(ledger.events(comm_id)) == 1


def test_an_unknown_status_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown status 'lost'"):
        ledger.add(**fields(1, status="lost"))
    assert ledger.count() == 0
    ledger.add(**fields(1))
    with pytest.raises(LedgerError, match="'composed' -> 'lost' is not allowed"):
        ledger.transition(fields(1)["communication_id"], "composed", "lost")
