"""Smoke tests for the composition benchmark and the brand font (no timing assertions)."""

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from missiva.devtools import bench
from missiva.paths import TEMPLATES_DIR

RATES = (
    "pdf_letters_per_s",
    "pdf_layout_ceiling_per_s",
    "email_per_s",
    "pdf_letters_per_s_2_cores",
)


def _pdf_fonts(pdf: bytes) -> list[str]:
    """Font names embedded in a PDF, without their subset prefix."""
    reader = PdfReader(io.BytesIO(pdf))
    names = {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    return sorted(names)


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_bench_compose_reports_positive_rates() -> None:
    result = bench.bench_compose(seconds=0.5)
    json.dumps(result)  # what the CLI prints
    for key in RATES:
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["pdf_to_ceiling_ratio"] > 0
    assert set(result["pdf_after_layout_ms"]) == {"drawing_fonts_metadata", "serialisation"}
    assert all(ms > 0 for ms in result["pdf_after_layout_ms"].values())
    assert all(rate > 0 for rate in result["per_cpu_second"].values())
    assert all(count > 0 for count in result["count"].values())
    assert result["pdf_pages"] == 1 and result["pdf_bytes"] > 1000
    assert result["machine"]["cores"] >= 1
    assert result["weasyprint"]
    assert set(result["font"]["files"]) == set(bench.BRAND_FONTS)


def test_main_json_prints_the_result(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "bench_compose", lambda seconds: {"pdf_letters_per_s": 1.0})
    assert bench.main_json(0.1) == 0
    assert json.loads(capsys.readouterr().out) == {"pdf_letters_per_s": 1.0}


def test_brand_font_is_small_and_covers_the_letters() -> None:
    from fontTools.ttLib import TTFont

    for filename in bench.BRAND_FONTS:
        path = TEMPLATES_DIR / "fonts" / filename
        assert path.stat().st_size < 100_000
        font = TTFont(path)
        assert font["name"].getDebugName(1) == bench.BRAND_FAMILY
        cmap = font.getBestCmap()
        # Accented Latin, Greek, euro, typographic quotes and dashes, ellipsis, guillemets.
        chars = "àèéìòùÀÈÉÌÒÙçÇñÑäöüßÆøłŁőűčšžřĆćğşİıαβγΩ€“”„—…«»\u2018\u2019\u2013"
        for char in chars:
            assert ord(char) in cmap, (filename, char)
    assert "Bitstream" in (TEMPLATES_DIR / "fonts" / "LICENSE").read_text()


@pytest.mark.skipif(
    not (bench.DEJAVU_DIR / "DejaVuSans.ttf").is_file(), reason="DejaVu Sans not installed"
)
def test_make_brand_font_reproduces_the_shipped_files(tmp_path: Path) -> None:
    written = bench.make_brand_font(tmp_path)
    assert {p.name for p in written} == {*bench.BRAND_FONTS, "LICENSE"}
    for path in written:
        assert path.read_bytes() == (TEMPLATES_DIR / "fonts" / path.name).read_bytes(), path.name


def test_letter_uses_the_brand_font_with_system_fallback() -> None:
    composer = bench._composer(TEMPLATES_DIR)
    record = bench.reference_record()
    pdf = composer.render_letter_pdf(bench.REFERENCE_COMMUNICATION, record)
    assert _pdf_fonts(pdf) == ["Missiva-Sans", "Missiva-Sans-Bold"]
    assert "Niccolò D'Agostino" in _pdf_text(pdf)

    # A CJK name is not in the subset: it falls back to the system font (WenQuanYi).
    record.update(first_name="李", last_name="娜")
    pdf = composer.render_letter_pdf(bench.REFERENCE_COMMUNICATION, record)
    fonts = _pdf_fonts(pdf)
    assert "Missiva-Sans" in fonts and len(fonts) > 2  # brand font plus a fallback
    assert "李 娜" in _pdf_text(pdf)


def test_text_not_drawn_leaves_the_layout_and_drops_only_the_text() -> None:
    composer = bench._composer(bench.TEMPLATES_DIR)
    record = bench.reference_record()
    with bench.text_not_drawn():
        blank = composer.render_letter_pdf(bench.REFERENCE_COMMUNICATION, record)
    letter = composer.render_letter_pdf(bench.REFERENCE_COMMUNICATION, record)
    assert record["customer_id"] in _pdf_text(letter)  # drawn again once outside
    assert _pdf_text(blank).strip() == ""
    assert len(PdfReader(io.BytesIO(blank)).pages) == 1


def test_bench_without_text_reports_both_rates() -> None:
    result = bench.bench_without_text(seconds=0.5)
    json.dumps(result)
    for key in ("pdf_letters_per_s", "pdf_letters_without_text_per_s", "pdf_layout_ceiling_per_s"):
        assert result[key] > 0, key
    assert set(result["count"]) == {"pdf", "pdf_without_text", "layout"}
