"""Whether a run is held for release, decided from its staged valid records, the
templates' current versions and the ledger (``missiva.release.hold_stage``), as the
``release_policy`` task decides it before anything is composed."""

from dataclasses import replace

import pytest
from support import ONBOARDING_RUN, compose_run, settings_for

from missiva.composition import Composer
from missiva.journeys import ONBOARDING
from missiva.records.ledger import Ledger
from missiva.release import hold_stage


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A seeded onboarding day, extracted, validated and composed (nothing sent)."""
    settings = settings_for(tmp_path_factory.mktemp("release-hold"))
    return compose_run(settings, customers=30)


def _hold(day, **params) -> list[str]:
    run = replace(ONBOARDING_RUN, task_id="release_policy", params=params)
    return hold_stage(ONBOARDING, run, day.settings, day.chunks)


def _valid(day) -> int:
    return sum(
        sum(v for k, v in counts.items() if k != "already_recorded") for counts in day.composed
    )


def test_no_policy_never_holds(day) -> None:
    assert _hold(day) == []
    assert _hold(day, release_when=[]) == []


def test_a_version_never_sent_holds_the_run_naming_only_the_versions_it_uses(day) -> None:
    welcome = Composer(day.settings.templates_dir).template_version("welcome")
    assert _hold(day, release_when=["first_version"]) == [
        f"first send of welcome version {welcome}"  # the reminder is not sent this day
    ]


def test_over_threshold_counts_the_valid_records(day) -> None:
    valid = _valid(day)
    when = ["over_threshold"]
    assert _hold(day, release_when=when, release_threshold=valid) == []
    assert _hold(day, release_when=when, release_threshold=valid - 1) == [
        f"{valid} records, over the release threshold of {valid - 1}"
    ]


def test_once_a_version_was_sent_it_no_longer_holds(day) -> None:
    with Ledger(day.settings.ledger_url) as ledger:
        first = next(c for c in ledger.communications() if c.status == "composed")
        ledger.transition(first.communication_id, "composed", "sending", task_id="deliver")
        ledger.transition(first.communication_id, "sending", "sent", provider_message_id="Q1")
    assert _hold(day, release_when=["first_version"]) == []
    assert _hold(day, release_when=["always", "first_version"]) == [
        "the journey holds every run for release"
    ]
