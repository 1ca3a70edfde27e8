"""Every communication, in every language, checked by independent tools as a customer
gets it: letters with the ``pdfua`` checker (PDF/UA-1, pikepdf-based) and poppler's
``pdfinfo``/``pdftotext`` (tagged, no text below 9 pt, no page that starts with a
regulatory notice), e-mail and web pages in a real Chromium at 320 px and 1280 px
(no horizontal scrolling, zero axe-core WCAG 2.1 A/AA violations).

One browser for every page. Needs Chromium at /usr/bin/chromium and poppler-utils.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import VIEWPORTS, launched_chromium, reflow_and_axe

from missiva.channels.paper import postal_address
from missiva.composition import Composer, sample_record
from missiva.composition.postal import window_lines
from missiva.paths import TEMPLATES_DIR
from missiva.reference import reference_code

COMMUNICATION_ID = "0b6c2f0e-4d1a-4f7e-9c55-1b2a3c4d5e6f"
#: pdftotext's word box is the font's ascent + descent: 1.164 em for DejaVu Sans and the
#: brand's Missiva Sans (a DejaVu subset), the only fonts letters use.
EM_PER_BOX_HEIGHT = 1 / 1.164
SMALLEST_PT = 9.0
REGULATORY_HEADINGS = ("Informativa sul trattamento", "Privacy notice", "Diritto di recesso")

COMPOSER = Composer(TEMPLATES_DIR, production=False)
COMMUNICATIONS = sorted(
    p.parent.name for p in (TEMPLATES_DIR / "communications").glob("*/meta.json")
)
CASES = [(name, lang) for name in COMMUNICATIONS for lang in COMPOSER.languages(name)]


def record(name: str, lang: str) -> dict[str, Any]:
    sample = sample_record(TEMPLATES_DIR, name, lang)
    return {
        "communication_id": COMMUNICATION_ID,
        "letter_date": datetime.date(2026, 11, 2),
        **sample,
    }


def cases_with(rendition: str) -> list[tuple[str, str]]:
    return [(n, lang) for n, lang in CASES if rendition in COMPOSER.renditions(n)]


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("letters")
    paths = {}
    for name, lang in cases_with("letter_pdf"):
        path = folder / f"{name}-{lang}.pdf"
        path.write_bytes(COMPOSER.render_letter_pdf(name, record(name, lang)))
        paths[name, lang] = path
    return paths


def poppler(tool: str, *args: str | Path) -> str:
    """A poppler-utils tool's output; skipped without it, failed when CI=true."""
    if shutil.which(tool) is None:
        reason = f"{tool} not found (apt-get install poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; required when CI=true")
        pytest.skip(reason)
    return subprocess.run(
        [tool, *map(str, args)], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def word_sizes_pt(pdf: Path) -> list[tuple[float, str]]:
    """(font size in pt, word) of every word of the PDF, from poppler's word boxes."""
    words = re.findall(
        r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)<',
        poppler("pdftotext", "-bbox", pdf, "-"),
    )
    return [
        (round((float(bottom) - float(top)) * EM_PER_BOX_HEIGHT, 2), word)
        for top, bottom, word in words
    ]


def test_every_letter_passes_the_pdfua_checker_and_is_tagged(letters) -> None:
    import pdfua

    findings = {
        f"{name}/{lang}": [
            f"{f.rule_id} {f.severity.name}: {f.message}" for f in pdfua.validate(path).findings
        ]
        for (name, lang), path in letters.items()
    }
    assert findings == {case: [] for case in findings}, "pdfua reports no error, no warning"
    for path in letters.values():
        info = poppler("pdfinfo", path)
        assert re.search(r"^Tagged:\s+yes$", info, re.M), info
        assert re.search(r"^Title:\s+\S", info, re.M), "a title, shown by the viewer"


def test_no_text_in_a_letter_is_smaller_than_9_pt(letters) -> None:
    small = {
        f"{name}/{lang}": tiny
        for (name, lang), path in letters.items()
        if (tiny := [w for w in word_sizes_pt(path) if w[0] < SMALLEST_PT - 0.05])
    }
    assert small == {}


def test_no_letter_page_starts_with_a_regulatory_notice(letters) -> None:
    """A notice is kept with the letter, not left alone on a trailing page."""
    for (name, lang), path in letters.items():
        pages = poppler("pdftotext", path, "-").split("\f")
        for number, page in enumerate(pages[1:], start=2):
            first = page.strip().splitlines()[:1]
            assert not (first and first[0].startswith(REGULATORY_HEADINGS)), (name, lang, number)


def test_letters_print_the_reference_and_the_envelope_address_as_the_window_shows(letters) -> None:
    for (name, lang), path in letters.items():
        text = poppler("pdftotext", "-layout", path, "-")
        code = reference_code(record(name, lang)["communication_id"])
        assert code in text, "on one line, never broken"
        window = [
            line.strip()
            for line in poppler(
                "pdftotext", "-x", "70", "-y", "142", "-W", "250", "-H", "100", path, "-"
            ).splitlines()
            if line.strip()
        ]
        assert window == window_lines(record(name, lang)), (name, lang)
        assert postal_address(record(name, lang)).split("\n") == window, "envelope JSON, manifest"
        if lang == "en":
            assert "Milan," in text and "Milano," not in text


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Any]]:
    """One Chromium, one page per viewport width."""
    with launched_chromium() as browser:
        opened = {}
        for label, width in VIEWPORTS.items():
            opened[label] = browser.new_context(viewport={"width": width, "height": 800}).new_page()
        yield opened


def rendered(name: str, lang: str, rendition: str) -> str:
    if rendition == "web":
        return COMPOSER.render_web(name, record(name, lang)).html
    return COMPOSER.render_email(name, record(name, lang)).html


@pytest.mark.parametrize(("name", "lang"), cases_with("email_html"))
def test_email_and_web_reflow_and_have_no_axe_violations(pages, name: str, lang: str) -> None:
    results = {}
    for rendition in ("email_html", "web"):
        if rendition not in COMPOSER.renditions(name):
            continue
        html = rendered(name, lang, rendition)
        for label, page in pages.items():
            page.set_content(html, wait_until="load")
            results[rendition, label] = reflow_and_axe(page)
    assert results == {key: {"overflow_px": 0, "violations": []} for key in results}
