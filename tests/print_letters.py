"""Print letters for the print-batch tests (unit and component): small valid PDFs whose
pages name themselves, and the manifests' contents."""

from __future__ import annotations

import json
from pathlib import Path

from missiva.channels.print_batch import Letter

A4 = (595, 842)


def make_pdf(label: str, pages: int, size: tuple[int, int] = A4) -> bytes:
    """A small valid PDF whose page ``i`` reads ``<label> page <i>``."""
    width, height = size
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({label} page {i + 1}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


def letter(
    cid: str,
    pages: int,
    name: str,
    street: str,
    postal: str,
    city: str,
    country: str,
    size: tuple[int, int] = A4,
) -> Letter:
    return Letter(
        communication_id=cid,
        pdf=make_pdf(cid, pages, size),
        address_lines=(name, street, f"{postal} {city}", country),
        postal_code=postal,
        country=country,
    )


def batched_ids(folder: Path) -> dict[str, list[str]]:
    """Label of every manifest in ``folder`` -> the letters it holds."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.manifest.json")):
        manifest = json.loads(path.read_bytes())
        ids = [c for e in manifest["envelopes"] for c in e["communication_ids"]]
        found.setdefault(manifest["run_label"], []).extend(ids)
    return found


def six_letters() -> list[Letter]:
    """Six letters, five envelopes: c-02 and c-05 share one (same addressee, spelled apart)."""
    return [
        letter("c-01", 1, "Anna Verdi", "Via Po, 3", "20121", "Milano", "IT"),
        letter("c-02", 3, "Giulia Bianchi", "Via della Libertà, 1", "00184", "Roma", "IT"),
        letter("c-03", 2, "John Smith", "10 Downing Street", "SW1A 2AA", "London", "GB"),
        letter("c-04", 1, "Luca Bianchi", "Via della Libertà, 1", "00184", "Roma", "IT"),
        letter("c-05", 2, "GIULIA  BIANCHI", "via della liberta 1", "00184", "ROMA", "it"),
        letter("c-06", 1, "Hans Muster", "Hauptstraße 5", "10115", "Berlin", "DE"),
    ]
