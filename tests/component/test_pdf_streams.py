"""The letter's streams are compressed once, and the PDF holds exactly what WeasyPrint
writes on its own: the same objects, the same stream contents, a file identifier."""

import io
import re
import zlib

import pytest
import weasyprint
from pypdf import PdfReader
from pypdf.generic import IndirectObject, StreamObject

from missiva.composition import Composer
from missiva.composition.engine import PDF_VARIANT
from missiva.composition.pdf_streams import compress_streams_once
from missiva.devtools.bench import REFERENCE_COMMUNICATION, reference_record

HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"></head>
<body><h1>Renewal notice</h1><p>Dear Ada, your policy renews on 1 December.</p>
<table><tr><td>Premium</td><td>€ 450,00</td></tr></table></body></html>"""


@pytest.fixture
def compressed_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each piece of data zlib is asked to compress, in call order."""
    sizes: list[int] = []
    real_compress, real_compressobj = zlib.compress, zlib.compressobj

    def compress(data: bytes, *args: object, **kwargs: object) -> bytes:
        sizes.append(len(data))
        return real_compress(data, *args, **kwargs)

    class CompressObj:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self._compressor = real_compressobj(*args, **kwargs)

        def compress(self, data: bytes) -> bytes:
            sizes.append(len(data))
            return self._compressor.compress(data)

        def flush(self, *args: int) -> bytes:
            return self._compressor.flush(*args)

    monkeypatch.setattr(zlib, "compress", compress)
    monkeypatch.setattr(zlib, "compressobj", CompressObj)
    return sizes


def _objects(pdf: bytes) -> dict[int, object]:
    """Every indirect object, streams as their decoded data; not the cross-reference
    stream (byte offsets, identifier)."""
    reader = PdfReader(io.BytesIO(pdf))
    objects = {}
    for number in range(1, reader.trailer["/Size"]):
        obj = reader.get_object(IndirectObject(number, 0, reader))
        if isinstance(obj, StreamObject) and obj.get("/Type") == "/XRef":
            continue
        if isinstance(obj, StreamObject):
            objects[number] = (sorted(k for k in obj if k != "/Length"), obj.get_data())
        else:
            objects[number] = re.sub(r", \d+\)", ")", repr(obj))  # drop the reader's id
    return objects


def test_same_content_as_weasyprint_writes_alone() -> None:
    document = weasyprint.HTML(string=HTML).render()
    plain = document.write_pdf(pdf_variant=PDF_VARIANT)
    once = document.write_pdf(pdf_variant=PDF_VARIANT, finisher=compress_streams_once)
    assert _objects(once) == _objects(plain)
    reader = PdfReader(io.BytesIO(once))
    assert reader.trailer["/ID"]  # required by PDF/A
    assert "Dear Ada" in reader.pages[0].extract_text()
    catalog = reader.trailer["/Root"]
    assert b'pdfaid:part="3"' in catalog["/Metadata"].get_object().get_data()


def test_each_stream_is_compressed_once(compressed_sizes: list[int]) -> None:
    document = weasyprint.HTML(string=HTML).render()
    document.write_pdf(pdf_variant=PDF_VARIANT)
    alone = sorted(compressed_sizes)
    compressed_sizes.clear()
    document.write_pdf(pdf_variant=PDF_VARIANT, finisher=compress_streams_once)
    once = sorted(compressed_sizes)
    # the same data compressed; WeasyPrint alone compresses the page, font, ICC and
    # metadata streams twice (hash for the identifier, then the write), the finisher once
    assert set(once) == set(alone)
    assert len(alone) - len(once) >= 6
    page = max(alone)
    assert (alone.count(page), once.count(page)) == (2, 1)


def test_composer_letters_use_it(compressed_sizes: list[int]) -> None:
    composer, record = Composer(), reference_record()
    pdf = composer.render_letter_pdf(REFERENCE_COMMUNICATION, record)
    compressed_sizes.clear()
    again = composer.render_letter_pdf(REFERENCE_COMMUNICATION, record)
    assert again == pdf  # still reproducible
    assert compressed_sizes.count(max(compressed_sizes)) == 1
