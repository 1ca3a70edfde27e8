"""WeasyPrint loads only when a letter is rendered, not with the composition package."""

import subprocess
import sys

import pytest

from missiva.paths import TEMPLATES_DIR

CHECK = "import {module}, sys; print('weasyprint' in sys.modules)"


@pytest.mark.parametrize(
    "module",
    [
        "missiva.composition",
        "missiva.composition.text",
        "missiva.composition.chart",
        "missiva.flow",
    ],
)
def test_importing_does_not_load_weasyprint(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_only_a_letter_loads_weasyprint() -> None:
    script = f"""
import sys
from missiva.composition import Composer
from missiva.devtools.bench import REFERENCE_COMMUNICATION as NAME, reference_record
composer = Composer({str(TEMPLATES_DIR)!r}, production=False)
composer.render_email(NAME, reference_record())
composer.render_web(NAME, reference_record())
print('weasyprint' in sys.modules)
composer.render_letter_pdf(NAME, reference_record())
print('weasyprint' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
