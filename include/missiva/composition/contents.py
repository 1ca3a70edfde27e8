"""What the composer returns: the rendered content of each channel and its provenance."""

from dataclasses import dataclass, field
from typing import Any

from missiva.composition.sms import Encoding

#: Archival PDF variant of letters: PDF/A-3a, the accessible level (tagged: structure tree,
#: language, alt text), with XMP metadata, an sRGB output intent and an ID. Letters also
#: claim PDF/UA-1 (see :mod:`missiva.composition.pdf_tags`).
PDF_VARIANT = "pdf/a-3a"


@dataclass(frozen=True)
class Provenance:
    """What a rendering used: the communication, its exact version, the regulatory blocks.

    ``blocks`` maps each regulatory block actually included to its approved version.
    """

    template: str
    template_version: str
    blocks: dict[str, str] = field(default_factory=dict)
    language: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "template_version": self.template_version,
            "blocks": dict(self.blocks),
            "language": self.language,
        }


@dataclass(frozen=True)
class EmailContent:
    """A rendered e-mail: header-safe subject, HTML body (CSS inlined) and plain text."""

    subject: str
    html: str
    text: str
    provenance: Provenance


@dataclass(frozen=True)
class Letter:
    """A rendered PDF letter (A4, tagged PDF/A-3a and PDF/UA-1)."""

    pdf: bytes
    provenance: Provenance


@dataclass(frozen=True)
class SmsContent:
    """A rendered SMS: text, its encoding (``GSM-7``/``UCS-2``) and segment count."""

    text: str
    encoding: Encoding
    segments: int
    provenance: Provenance
    units: int = 0  # septets (GSM-7) or UTF-16 code units (UCS-2)


@dataclass(frozen=True)
class WebContent:
    """A rendered web page for the customer portal (standalone, styles embedded)."""

    html: str
    provenance: Provenance
