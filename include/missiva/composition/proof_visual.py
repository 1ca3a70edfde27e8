"""Visual differences: HTML screenshots (headless Chromium) and PDF pages (pdftoppm),
compared pixel by pixel with Pillow.

:func:`pixel_diff` pads both images to the same size on white, counts the pixels that
differ and writes an overlay: the new image faded, every changed pixel in red. Pages
render offline: the browser may load nothing but ``data:`` URIs (the composer inlines
styles and the logo), so a template cannot make the proof fetch a URL.
"""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from missiva.composition.errors import TemplateError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
#: Widths the HTML renditions are shot at (CSS px): a phone and a desktop screen.
WIDTHS = {"phone": 375, "desktop": 1280}
#: Resolution PDF pages are rasterised at.
PDF_DPI = 72
_RED = (220, 38, 38)


@contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright (imported only here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a pinned requirement
        raise TemplateError("screenshots need playwright (pip install playwright)") from exc
    if not CHROMIUM.exists():
        raise TemplateError(f"screenshots need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(chromium: Any, html: str, width: int, out: Path) -> Path:
    """A full-page PNG of ``html`` in a viewport ``width`` CSS px wide."""
    page = chromium.new_page(viewport={"width": width, "height": 800})
    try:
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("data:") else route.abort()
            ),
        )
        page.set_content(html, wait_until="load")
        page.screenshot(path=str(out), full_page=True, animations="disabled", caret="hide")
    finally:
        page.close()
    return out


def pdf_pages(pdf: bytes, out_prefix: Path) -> list[Path]:
    """Rasterise every page of ``pdf`` to ``<out_prefix>-<n>.png`` (n from 1)."""
    with TemporaryDirectory(prefix="missiva-pdf-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        try:
            subprocess.run(
                ["pdftoppm", "-r", str(PDF_DPI), "-png", str(source), str(Path(tmp) / "page")],
                check=True,
                capture_output=True,
                timeout=120,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise TemplateError(f"pdftoppm (poppler-utils) failed: {exc}") from exc
        # pdftoppm pads page numbers to the width of the page count
        pages = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
        written = []
        for number, page in enumerate(pages, start=1):
            target = out_prefix.with_name(f"{out_prefix.name}-{number}.png")
            target.write_bytes(page.read_bytes())
            written.append(target)
    return written


def pixel_diff(before: Path | None, after: Path | None, out: Path) -> dict[str, int]:
    """Compare two images (``None``: absent, every pixel of the other changed); write the
    overlay to ``out``. Returns ``changed_pixels``, ``total_pixels``, ``width``, ``height``."""
    from PIL import Image, ImageChops

    images = [Image.open(p).convert("RGB") if p else None for p in (before, after)]
    present = [image for image in images if image is not None]
    width = max(image.width for image in present)
    height = max(image.height for image in present)
    old, new = (_padded(image, width, height) for image in images)
    if None in images:
        mask = Image.new("L", (width, height), 255)
    else:
        mask = ImageChops.difference(old, new).convert("L").point(lambda v: 255 if v else 0)
    changed = mask.histogram()[255]
    overlay = Image.blend(Image.new("RGB", (width, height), "white"), new, 0.35)
    overlay.paste(Image.new("RGB", (width, height), _RED), mask=mask)
    overlay.save(out)
    return {
        "changed_pixels": changed,
        "total_pixels": width * height,
        "width": width,
        "height": height,
    }


def _padded(image: Any, width: int, height: int) -> Any:
    from PIL import Image

    canvas = Image.new("RGB", (width, height), "white")
    if image is not None:
        canvas.paste(image, (0, 0))
    return canvas
