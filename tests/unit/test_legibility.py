"""`templates lint` refuses styles that make the mandatory disclosures small or faint."""

import shutil
from pathlib import Path

import pytest

from missiva.composition.legibility import contrast, style_problems
from missiva.composition.lint import lint
from missiva.paths import TEMPLATES_DIR


def test_the_library_styles_keep_disclosures_legible() -> None:
    assert style_problems(TEMPLATES_DIR) == []


def test_wcag_contrast_ratio() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize(
    ("stylesheet", "rule", "expected"),
    [
        ("letter.css", ".regulatory { font-size: 7pt; }", "font-size 7pt is below 9pt"),
        ("letter.css", ".privacy p { font-size: 3mm; }", "font-size 3mm is below 9pt"),
        ("email.css", ".footer .regulatory { font-size: 12px; }", "font-size 12px is below 14px"),
        ("web.css", ".regulatory { font-size: 0.8rem; }", "font-size 0.8rem is below 14px"),
        ("web.css", ".regulatory p { font-size: 0.85em; }", "makes the text smaller"),
        ("brand.css", ".regulatory { color: #9aa5b1; }", "contrast of 2.5"),
        ("brand.css", ".cooling-off { opacity: 0.6; }", "opacity 0.6 makes the text fainter"),
    ],
)
def test_lint_fails_a_style_that_shrinks_or_fades_a_disclosure(
    tmp_path: Path, stylesheet: str, rule: str, expected: str
) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    with (library / "styles" / stylesheet).open("a", encoding="utf-8") as css:
        css.write(f"\n{rule}\n")
    problems = [str(p) for p in lint(library, only=[])]
    assert len(problems) == 1 and f"styles/{stylesheet}" in problems[0], problems
    assert expected in problems[0]
