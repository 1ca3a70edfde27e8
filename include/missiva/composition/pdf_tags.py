"""Accessible letters: what WeasyPrint's tagged PDF/A-3a output lacks for PDF/UA-1.

WeasyPrint writes the structure tree, ``/MarkInfo``, ``/Lang``, ``DisplayDocTitle``, alt
text of images (``alt``) and of SVG charts (their ``<title>``) and table header ``/ID``s
with ``/Headers`` on data cells. It writes one variant's identification only, and no
``/Scope`` on header cells. Letters are PDF/A-3a (archival, tagged) that also claim
PDF/UA-1: :data:`PDFUA_1_XMP` goes into the XMP packet and :func:`finish_letter` (the
``write_pdf`` finisher) scopes table headers, then compresses the streams once.
"""

from typing import Any

import pydyf

from missiva.composition.pdf_streams import compress_streams_once

#: PDF/UA-1 identification (ISO 14289-1 §5), an extra XMP description.
PDFUA_1_XMP = (
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/" '
    b'pdfuaid:part="1"/></rdf:RDF>'
)


def _object(pdf: pydyf.PDF, reference: Any) -> Any:
    """The object an indirect reference (``"12 0 R"``) names."""
    return pdf.objects[int(str(reference).split()[0])]


def scope_table_headers(pdf: pydyf.PDF) -> None:
    """Give every ``/TH`` a ``/Scope``: ``/Row`` if a data cell of its own row refers to
    it through ``/Headers``, else ``/Column`` (as ``<th scope>`` said in the HTML)."""
    cells = [
        obj
        for obj in pdf.objects
        if isinstance(obj, pydyf.Dictionary) and obj.get("S") in ("/TH", "/TD")
    ]
    row_headers = {
        (str(header), str(cell["P"]))
        for cell in cells
        if cell["S"] == "/TD"
        for header in cell.get("A", {}).get("Headers", ())
    }
    for cell in cells:
        if cell["S"] == "/TH":
            attributes = cell.setdefault("A", pydyf.Dictionary({"O": "/Table"}))
            in_row = (str(cell.get("ID")), str(cell["P"])) in row_headers
            attributes["Scope"] = "/Row" if in_row else "/Column"


def finish_letter(document: Any, pdf: pydyf.PDF) -> None:
    """The letters' ``write_pdf`` finisher: header scopes, then streams compressed once."""
    scope_table_headers(pdf)
    compress_streams_once(document, pdf)
