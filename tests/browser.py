"""Headless Chromium (Debian's, /usr/bin/chromium) through Playwright, and the checks a
page must pass: reflow (no horizontal scrolling, WCAG 1.4.10) and axe-core's WCAG 2.1
A/AA rules (axe-core 4.12.1, bundled by the pinned ``axe-playwright-python``).

Skipped without Chromium, failed when CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Phone (WCAG 1.4.10's 320 CSS px) and desktop widths.
VIEWPORTS = {"phone": 320, "desktop": 1280}
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def chromium_path() -> Path:
    """Debian's Chromium, or skip (fail when CI=true)."""
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; required when CI=true")
        pytest.skip(reason)
    return CHROMIUM


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """One browser for many pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def horizontal_overflow(page: Any) -> int:
    """CSS px the page is wider than the viewport (> 0: it scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A and AA violations on the page: ``rule (n nodes): help``."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    return [
        f"{v['id']} ({len(v['nodes'])} nodes): {v['help']}: "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
    ]


def reflow_and_axe(page: Any) -> dict[str, Any]:
    """Both checks on the page as it is now."""
    return {"overflow_px": horizontal_overflow(page), "violations": axe_violations(page)}
