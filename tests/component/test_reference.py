"""The author's reference cannot drift: docs/REFERENCE.md is what the code generates, and
what it is generated from is checked against what the composer really does (every
filter of the sandbox, every variable it adds, every key of a registry entry). A new
regulatory block is scaffolded ready for approval."""

import json
import shutil

import jinja2
import pytest
from support import REPO

from missiva.cli import main
from missiva.composition import Composer, approve_block, block_status, lint, new_block
from missiva.composition.engine import COMPOSER_VARIABLES
from missiva.composition.errors import RegulatoryBlockError
from missiva.composition.lint import sample_record
from missiva.composition.reference import REGISTRY_KEYS, reference
from missiva.composition.sandbox import FILTERS
from missiva.journeys import JOURNEYS
from missiva.paths import TEMPLATES_DIR

REFERENCE = REPO / "docs" / "REFERENCE.md"


def test_the_reference_file_is_what_the_code_generates():
    assert REFERENCE.read_text(encoding="utf-8") == reference(TEMPLATES_DIR, JOURNEYS), (
        "docs/REFERENCE.md is stale: run `missiva templates reference --out docs/REFERENCE.md`"
    )


def test_the_cli_prints_the_reference(capsys):
    assert main(["templates", "reference"]) == 0
    assert capsys.readouterr().out == REFERENCE.read_text(encoding="utf-8")


def test_every_filter_of_the_sandbox_is_documented():
    composer = Composer(TEMPLATES_DIR, production=False)
    added = set(composer._env.filters) - set(jinja2.defaults.DEFAULT_FILTERS)
    assert added == set(FILTERS)
    for name in FILTERS:
        assert f"| `{name}` | `value | {name}" in REFERENCE.read_text().replace("\\|", "|")


def test_the_documented_variables_are_those_the_composer_adds():
    composer = Composer(TEMPLATES_DIR, production=False)
    record = sample_record(TEMPLATES_DIR, "welcome", "en")
    # the context the composer really builds (private: no public API exposes it)
    comm = composer._communication("welcome")
    context = composer._context(comm, "email_html", record)
    added = (set(context) - set(record)) | set(composer._env.globals) - set(
        jinja2.defaults.DEFAULT_NAMESPACE
    )
    assert added | {"inline_css"} == set(COMPOSER_VARIABLES)


def test_registry_keys_are_the_documented_ones():
    registry = json.loads((TEMPLATES_DIR / "regulatory/registry.json").read_text())["blocks"]
    for name, entry in registry.items():
        assert set(entry) == set(REGISTRY_KEYS), name


@pytest.fixture
def library(tmp_path):
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    return copy


def test_a_new_block_is_ready_for_approval(library):
    written = new_block(library, "sanctions", owner="legal@x.example", title="Sanctions clause")
    assert {p.name for p in written} == {"sanctions.html", "sanctions.txt", "registry.json"}
    status = {row["name"]: row for row in block_status(library)}["sanctions"]
    assert (status["status"], status["owner"], status["version"]) == (
        "unapproved",
        "legal@x.example",
        "1",
    )
    assert any(p.template == "regulatory/sanctions" for p in lint(library, only=[]))
    with pytest.raises(RegulatoryBlockError, match="exists already"):
        new_block(library, "sanctions", owner="legal@x.example", title="Again")

    approve_block(library, "sanctions", "compliance@x.example")
    assert not any(p.template == "regulatory/sanctions" for p in lint(library, only=[]))
    html = Composer(library)._env.get_template("regulatory/sanctions.html")
    assert "<h2>Sanctions clause</h2>" in html.render(lang="en")
