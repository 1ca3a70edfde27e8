"""Composition: render communications to every channel from the template library.

E-mail (HTML with inlined CSS + text), SMS, PDF letter and web page, from one record;
locked regulatory blocks, approved template versions, provenance, lint and preview.
No Airflow imports here: the engine is plain Python, usable from tasks, the CLI and tests.
WeasyPrint is imported only to render a letter (or for :class:`TemplateAssetFetcher`).
"""

from missiva.composition.approval import approve, approve_block, new_block
from missiva.composition.assets import AssetAccessError
from missiva.composition.contents import (
    PDF_VARIANT,
    EmailContent,
    Letter,
    Provenance,
    SmsContent,
    WebContent,
)
from missiva.composition.engine import LETTER_MAX_FIELD_CHARS, RENDITIONS, Composer
from missiva.composition.errors import RegulatoryBlockError, SmsLimitError, TemplateError
from missiva.composition.library import block_status, list_templates, template_status
from missiva.composition.lint import LintProblem, lint, sample_record
from missiva.composition.preview import write_preview
from missiva.composition.sms import SmsInfo, analyse
from missiva.composition.text import clean_header, format_date, format_money, long_date

__all__ = [
    "LETTER_MAX_FIELD_CHARS",
    "PDF_VARIANT",
    "RENDITIONS",
    "AssetAccessError",
    "Composer",
    "EmailContent",
    "Letter",
    "LintProblem",
    "Provenance",
    "RegulatoryBlockError",
    "SmsContent",
    "SmsInfo",
    "SmsLimitError",
    "TemplateAssetFetcher",
    "TemplateError",
    "WebContent",
    "analyse",
    "approve",
    "approve_block",
    "block_status",
    "clean_header",
    "format_date",
    "format_money",
    "lint",
    "list_templates",
    "long_date",
    "new_block",
    "sample_record",
    "template_status",
    "write_preview",
]


def __getattr__(name: str) -> object:
    """``TemplateAssetFetcher`` on first use: it imports WeasyPrint."""
    if name == "TemplateAssetFetcher":
        from missiva.composition.fetcher import TemplateAssetFetcher

        return TemplateAssetFetcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
