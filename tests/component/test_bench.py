"""The composition benchmark (the JSON's shape and how its figures relate; no timing
thresholds) and the brand font."""

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from missiva.devtools import bench
from missiva.paths import TEMPLATES_DIR


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


COMPOSE_KEYS = {
    "pdf_letters_per_s",
    "pdf_layout_ceiling_per_s",
    "pdf_to_ceiling_ratio",
    "pdf_beyond_layout_ms",
    "pdf_after_layout_ms",
    "email_per_s",
    "pdf_letters_per_s_2_cores",
    "per_cpu_second",
    "count",
    "seconds_per_measurement",
    "communication",
    "record",
    "pdf_bytes",
    "pdf_pages",
    "email_bytes",
    "email_css_inlined",
    "machine",
    "weasyprint",
    "font",
}


def test_bench_compose_json_has_its_keys_and_consistent_figures() -> None:
    """The JSON the README's figures come from: every key there (no more, no fewer), and
    figures derived from one another agree (ratio, cost beyond layout). No ordering of
    the rates: with half a second per measurement on a loaded machine they are noise."""
    result = json.loads(json.dumps(bench.bench_compose(seconds=0.5)))  # what the CLI prints
    assert set(result) == COMPOSE_KEYS
    pdf, ceiling = result["pdf_letters_per_s"], result["pdf_layout_ceiling_per_s"]
    assert pdf > 0 and ceiling > 0
    assert result["pdf_to_ceiling_ratio"] == round(pdf / ceiling, 3)
    assert result["pdf_beyond_layout_ms"] == round(1000 / pdf - 1000 / ceiling, 1)
    assert set(result["pdf_after_layout_ms"]) == {"drawing_fonts_metadata", "serialisation"}
    assert set(result["per_cpu_second"]) == {"pdf_letters", "pdf_layout_ceiling", "email"}
    assert set(result["count"]) == {"pdf", "layout", "email", "pdf_2_cores"}
    assert all(isinstance(n, int) and n > 0 for n in result["count"].values())
    assert result["seconds_per_measurement"] == 0.5
    assert result["communication"] == bench.REFERENCE_COMMUNICATION
    assert result["pdf_pages"] == 1 and result["pdf_bytes"] > 1000
    assert result["email_css_inlined"] is True
    assert set(result["font"]["files"]) == set(bench.BRAND_FONTS)


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


def test_bench_without_text_figures_agree() -> None:
    """The experiment's JSON: its keys, and ratios and text-drawing cost that are those of
    the rates reported (not their order: half a second per measurement is noise)."""
    result = json.loads(json.dumps(bench.bench_without_text(seconds=0.5)))
    assert set(result) == {
        "pdf_letters_per_s",
        "pdf_letters_without_text_per_s",
        "pdf_layout_ceiling_per_s",
        "pdf_to_ceiling_ratio",
        "without_text_to_ceiling_ratio",
        "text_drawing_ms",
        "count",
    }
    pdf, without_text = result["pdf_letters_per_s"], result["pdf_letters_without_text_per_s"]
    ceiling = result["pdf_layout_ceiling_per_s"]
    assert min(pdf, without_text, ceiling) > 0
    assert result["pdf_to_ceiling_ratio"] == round(pdf / ceiling, 3)
    assert result["without_text_to_ceiling_ratio"] == round(without_text / ceiling, 3)
    assert result["text_drawing_ms"] == round(1000 / pdf - 1000 / without_text, 2)
    assert set(result["count"]) == {"pdf", "pdf_without_text", "layout"}
