"""Letters laid out and written to PDF by WeasyPrint (the only module that imports it).

:class:`~missiva.composition.engine.Composer` loads this module on its first letter, so
importing the composition package, or rendering e-mail, SMS and web pages, does not
pay for WeasyPrint.
"""

import logging
from collections.abc import Callable
from pathlib import Path

import weasyprint
from weasyprint.text.fonts import FontConfiguration

from missiva.composition.contents import PDF_VARIANT
from missiva.composition.fetcher import TemplateAssetFetcher
from missiva.composition.pdf_tags import PDFUA_1_XMP, finish_letter

# WeasyPrint logs every step of every letter at INFO (seven lines a letter, each carried
# into the task log); its warnings about a letter are still logged
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


class LetterPrinter:
    """Lay out letter HTML with the library's assets; one per Composer.

    The font configuration and the parsed stylesheets are created once and reused.
    Not meant to be shared between threads during a render.
    """

    def __init__(self, templates_dir: Path, asset: Callable[[str], Path]) -> None:
        """``asset`` turns a stylesheet path relative to ``templates_dir`` into a file."""
        self.url_fetcher = TemplateAssetFetcher(templates_dir)
        self.font_config = FontConfiguration()
        self.base_url = templates_dir.as_uri() + "/"
        self._asset = asset
        self._css: dict[tuple[str, ...], list[weasyprint.CSS]] = {}

    def stylesheets(self, paths: tuple[str, ...]) -> list[weasyprint.CSS]:
        """Parsed stylesheets (cached per tuple of paths)."""
        if paths not in self._css:
            self._css[paths] = [
                weasyprint.CSS(
                    filename=str(self._asset(path)),
                    url_fetcher=self.url_fetcher,
                    font_config=self.font_config,
                )
                for path in paths
            ]
        return self._css[paths]

    def document(self, html: str) -> weasyprint.HTML:
        """The letter's HTML, resolving assets through the restricted fetcher."""
        return weasyprint.HTML(string=html, base_url=self.base_url, url_fetcher=self.url_fetcher)

    def layout(self, html: str, stylesheets: tuple[str, ...]) -> weasyprint.Document:
        """The laid-out pages, without writing the PDF (for the benchmark's ceiling)."""
        return self.document(html).render(
            stylesheets=self.stylesheets(stylesheets),
            font_config=self.font_config,
            pdf_variant=PDF_VARIANT,
        )

    @staticmethod
    def write(document: weasyprint.Document) -> bytes:
        """Laid-out pages as tagged PDF/A-3a bytes that also claim PDF/UA-1."""
        document.metadata.xmp_metadata = [PDFUA_1_XMP]
        return document.write_pdf(pdf_variant=PDF_VARIANT, finisher=finish_letter)

    def pdf(self, html: str, stylesheets: tuple[str, ...]) -> bytes:
        """The letter as accessible, archival PDF bytes (reproducible for equal inputs)."""
        return self.write(self.layout(html, stylesheets))
