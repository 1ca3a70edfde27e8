"""What one onboarding day actually archived, checked as customers get it: the HTML part
of each e-mail and each portal web page in a real Chromium at 320 px (no horizontal
scrolling, zero axe-core WCAG 2.1 A/AA violations), each letter PDF with the ``pdfua``
checker (PDF/UA-1). One artifact per distinct (communication, language, channel), read
back from the sealed archive, so CI stays quick.

Two homes: the onboarding journey as configured (e-mail, letter, SMS) and the same day
with the welcome pack required in the portal (web pages). Needs Chromium at
/usr/bin/chromium.
"""

from __future__ import annotations

import email
import json
from dataclasses import replace
from email.policy import default as default_policy
from pathlib import Path

import pytest
from browser import VIEWPORTS, launched_chromium, reflow_and_axe

from missiva.journeys import ONBOARDING
from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.store import open_store
from missiva.settings import Settings

PORTAL_ONLY = replace(ONBOARDING, required_channels={"welcome": "portal"})


def _archived(settings: Settings) -> dict[tuple[str, str, str], bytes]:
    """The first archived artifact of each (communication, language, channel)."""
    ledger = Ledger(settings.ledger_url)
    store = sealed(open_store(settings.archive_url), ledger)
    kinds: dict[tuple[str, str, str], bytes] = {}
    for row in ledger.communications():
        if not row.artifact_uri or row.channel not in ("email", "paper", "portal"):
            continue
        language = json.loads(store.get(row.input_uri, row.data_sha256))["language"]
        key = (row.communication, language, row.channel)
        if key not in kinds:
            kinds[key] = store.get(row.artifact_uri, row.artifact_sha256)
    return kinds


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, composed_run) -> dict[tuple[str, str, str], bytes]:
    """Every distinct kind of artifact of an onboarding day, e-mail/letter and portal."""
    kinds: dict[tuple[str, str, str], bytes] = {}
    for journey in (ONBOARDING, PORTAL_ONLY):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MISSIVA_HOME", str(tmp_path_factory.mktemp(journey.name)))
            for name in ("MISSIVA_LEDGER_URL", "MISSIVA_ARCHIVE_URL", "MISSIVA_PRINT_DIR"):
                patch.delenv(name, raising=False)
            settings = Settings.from_env()
            composed_run(settings, customers=30, seed=7, journey=journey)
            kinds.update(_archived(settings))
    return kinds


def html_of(channel: str, artifact: bytes) -> str:
    """What the browser shows: the e-mail's HTML part, or the web page as archived."""
    if channel == "portal":
        return artifact.decode("utf-8")
    message = email.message_from_bytes(artifact, policy=default_policy)
    return message.get_body(("html",)).get_content()


def test_the_run_produced_every_kind_checked_below(artifacts) -> None:
    channels = {(channel, lang) for _, lang, channel in artifacts}
    assert {("email", "it"), ("email", "en"), ("paper", "it"), ("portal", "it")} <= channels


def test_every_archived_letter_passes_the_pdfua_checker(artifacts, tmp_path: Path) -> None:
    import pdfua

    findings = {}
    for (name, lang, channel), artifact in artifacts.items():
        if channel != "paper":
            continue
        assert artifact.startswith(b"%PDF-"), (name, lang)
        path = tmp_path / f"{name}-{lang}.pdf"
        path.write_bytes(artifact)
        findings[name, lang] = [
            f"{f.rule_id} {f.severity.name}: {f.message}" for f in pdfua.validate(path).findings
        ]
    assert findings and findings == {case: [] for case in findings}


def test_every_archived_email_and_web_page_reflows_and_has_no_axe_violations(artifacts) -> None:
    results = {}
    with launched_chromium() as browser:
        page = browser.new_context(viewport={"width": VIEWPORTS["phone"], "height": 800}).new_page()
        for (name, lang, channel), artifact in artifacts.items():
            if channel in ("email", "portal"):
                page.set_content(html_of(channel, artifact), wait_until="load")
                results[name, lang, channel] = reflow_and_axe(page)
    assert results and results == {key: {"overflow_px": 0, "violations": []} for key in results}
