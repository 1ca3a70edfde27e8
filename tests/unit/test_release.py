"""The release gate's core (``missiva.release``): when a run is held, what its releaser
is shown, and what approving or rejecting records in the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_fixtures import cid, email_fields, fields, send

from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.release import ReleasePolicy, cancel, first_versions, release, summarize, versions_of

RUN = "scheduled__2026-11-02T00:00:00+00:00"
OTHER_RUN = "scheduled__2026-11-01T00:00:00+00:00"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


def test_a_run_is_held_for_each_condition_its_params_name() -> None:
    new = {("onboarding_welcome", "3")}
    never = ReleasePolicy.from_params({})
    assert never.hold_reasons(10_000, new) == []
    first = ReleasePolicy.from_params({"release_when": ["first_version"]})
    assert first.hold_reasons(5, new) == ["first send of onboarding_welcome version 3"]
    assert first.hold_reasons(5, set()) == []
    over = ReleasePolicy.from_params({"release_when": ["over_threshold"], "release_threshold": 100})
    assert over.hold_reasons(100, new) == []
    assert over.hold_reasons(101, new) == ["101 records, over the release threshold of 100"]
    always = ReleasePolicy.from_params({"release_when": ["always", "first_version"]})
    assert always.hold_reasons(1, new) == [
        "the journey holds every run for release",
        "first send of onboarding_welcome version 3",
    ]
    assert always.hold_reasons(0, new) == [], "nothing to send: nothing to release"


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown release condition.*'sometimes'"):
        ReleasePolicy.from_params({"release_when": ["sometimes"]})


def test_versions_are_those_the_records_ask_for() -> None:
    records = [{"customer_id": "C1"}, {"customer_id": "C2", "communication": "nonsense"}]
    got = versions_of(ONBOARDING, records, lambda name: f"v-{name}")
    assert got == {(ONBOARDING.communication, f"v-{ONBOARDING.communication}")}


def test_a_version_is_first_until_one_of_its_communications_was_handed_over(ledger) -> None:
    ledger.add(**email_fields(1, template="welcome", template_version="1"))
    ledger.add(**email_fields(2, template="welcome", template_version="2"))
    assert first_versions(ledger, {("welcome", "1"), ("welcome", "2")}) == {
        ("welcome", "1"),
        ("welcome", "2"),
    }
    send(ledger, 1, at=None)
    assert first_versions(ledger, {("welcome", "1"), ("welcome", "2")}) == {("welcome", "2")}


def _held_run(ledger: Ledger) -> None:
    """Customers 1-3 composed (2 e-mails, 1 letter), 4 quarantined, by ``RUN``; 5 by
    another run."""
    ledger.add(**email_fields(1, template="welcome", template_version="2"))
    ledger.add(**email_fields(2, template="welcome", template_version="2"))
    paper = {"channel": "paper", "recipient": "Via Roma 1", "template": "welcome"}
    ledger.add(**fields(3, **paper, template_version="2"))
    ledger.add(**fields(4, status="quarantined", reason="malformed e-mail address"))
    ledger.add(**email_fields(5, run_id=OTHER_RUN, template="welcome", template_version="2"))


def test_the_summary_counts_channels_and_links_one_proof_of_each_kind(ledger) -> None:
    _held_run(ledger)
    summary = summarize(ledger, "onboarding", RUN, ["the journey holds every run for release"])
    assert summary.composed_by_channel == {"email": 2, "paper": 1}
    assert summary.not_composed == {"quarantined": 1}
    assert summary.first_versions == {("welcome", "2")}
    text = summary.markdown("http://airflow.example:8080/")
    assert "**3 communications composed and held**" in text
    assert "| email | 2 |" in text and "| paper | 1 |" in text
    assert "Not to be sent: quarantined: 1." in text
    assert "First-time versions: welcome version 2." in text
    assert f"(http://airflow.example:8080/missiva/communications/{cid(1)})" in text
    assert cid(2) not in text, "one sample per channel and version"
    assert cid(3) in text and cid(5) not in text, "only the run's own"


def test_rejecting_cancels_the_run_s_composed_communications_with_who_and_why(ledger) -> None:
    _held_run(ledger)
    assert cancel(ledger, "onboarding", RUN, "releaser", " wrong letter date ") == 3
    why = "release rejected by releaser: wrong letter date"
    for n in (1, 2, 3):
        comm = ledger.get(cid(n))
        assert (comm.status, comm.reason) == ("cancelled", why)
        event = ledger.events(cid(n))[-1]
        assert event.kind == "cancelled"
        assert json.loads(event.detail)["by"] == "releaser"
        assert json.loads(event.detail)["reason"] == why
    assert ledger.get(cid(4)).status == "quarantined"
    assert ledger.get(cid(5)).status == "composed", "another run's are left alone"
    assert cancel(ledger, "onboarding", RUN, "releaser", "") == 0, "once"
    assert ledger.verify_chain() == []


def test_a_rejection_without_a_reason_says_so(ledger) -> None:
    _held_run(ledger)
    cancel(ledger, "onboarding", RUN, "releaser", "  ")
    assert ledger.get(cid(1)).reason == "release rejected by releaser: no reason given"


def test_approving_records_who_released_each_held_communication(ledger) -> None:
    _held_run(ledger)
    assert release(ledger, "onboarding", RUN, "releaser") == 3
    for n in (1, 2, 3):
        kinds = [(e.kind, json.loads(e.detail).get("released_by")) for e in ledger.events(cid(n))]
        assert kinds == [("composed", None), ("released", "releaser")]
        assert ledger.get(cid(n)).status == "composed", "delivery sends them next"
    assert [e.kind for e in ledger.events(cid(5))] == ["composed"]
    assert ledger.verify_chain() == []
