"""The template library tools: locked regulatory blocks, approvals, lint and preview."""

import datetime
import json
import re
import shutil
from pathlib import Path

import pytest
from test_composition import HOSTILE, make_record

from missiva.composition import (
    Composer,
    LintProblem,
    RegulatoryBlockError,
    TemplateError,
    approve,
    approve_block,
    block_status,
    lint,
    list_templates,
    sample_record,
    write_preview,
)
from missiva.composition.library import content_hash, snapshot
from missiva.paths import TEMPLATES_DIR

BY = "compliance@missiva.example"
AT = datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of the shipped template library."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def registry(library: Path) -> dict:
    return json.loads((library / "regulatory/registry.json").read_text())


def welcome_info(library: Path) -> dict:
    """The welcome communication's row of ``list_templates`` (the library has others)."""
    return next(t for t in list_templates(library) if t["name"] == "welcome")


# -- the shipped library --------------------------------------------------------------------


def test_shipped_library_is_approved_and_lints_clean() -> None:
    assert lint(TEMPLATES_DIR) == []
    welcome = welcome_info(TEMPLATES_DIR)
    assert welcome["name"] == "welcome" and welcome["status"] == "approved"
    assert welcome["version"] == "1.2.0" and welcome["approved_by"] == BY
    assert welcome["renditions"] == ["email_html", "email_text", "letter_pdf", "sms", "web"]
    blocks = {row["name"]: row for row in block_status(TEMPLATES_DIR)}
    assert set(blocks) == {
        "privacy_notice",
        "cooling_off",
        "renewal_disclosure",
        "claims_complaints",
    }
    for row in blocks.values():
        assert row["status"] == "approved" and row["approved_by"] == BY and row["owner"]
    entry = registry(TEMPLATES_DIR)["blocks"]["privacy_notice"]
    assert set(entry["sha256"]) == {"privacy_notice.html", "privacy_notice.txt"}


# -- locked regulatory blocks ---------------------------------------------------------------


def test_tampered_block_is_refused_in_every_channel(library: Path) -> None:
    edit(library / "regulatory/privacy_notice.html", "GDPR", "GDPR (abridged)")
    for production in (True, False):  # locked even for previews
        composer = Composer(library, production=production)
        for render in (composer.render_email, composer.render_letter, composer.render_web):
            with pytest.raises(RegulatoryBlockError) as info:
                render("welcome", make_record())
            assert str(info.value) == (
                "regulatory block 'privacy_notice' (version 1) does not match its approved "
                "hash (regulatory/privacy_notice.html)"
            )
    # the SMS includes no regulatory block: it still renders
    assert Composer(library).render_sms("welcome", make_record()).segments == 1
    assert {r["name"]: r["status"] for r in block_status(library)}["privacy_notice"] == "modified"


def test_only_blocks_actually_included_are_checked(library: Path) -> None:
    edit(library / "regulatory/cooling_off.txt", "14", "7")
    composer = Composer(library)
    with pytest.raises(RegulatoryBlockError, match=r"'cooling_off' \(version 1\)"):
        composer.render_email("welcome", make_record())
    email = composer.render_email("welcome", make_record(policy_id=None))  # no clause needed
    assert email.provenance.blocks == {"privacy_notice": "1"}


def test_unregistered_or_unapproved_block_is_refused(library: Path) -> None:
    (library / "regulatory/new_clause.html").write_text("<p>new</p>\n")
    edit(library / "layouts/web.html", "</footer>", '{% include "regulatory/new_clause.html" %}')
    with pytest.raises(RegulatoryBlockError, match="'new_clause' is not in regulatory/registry"):
        Composer(library).render_web("welcome", make_record())
    data = registry(library)
    data["blocks"]["privacy_notice"]["version"] = "2"  # bumped, not yet approved
    (library / "regulatory/registry.json").write_text(json.dumps(data))
    with pytest.raises(RegulatoryBlockError, match=r"'privacy_notice' \(version 2\) is not appr"):
        Composer(library).render_email("welcome", make_record())


def test_approve_block_needs_a_version_bump_for_new_wording(library: Path) -> None:
    path = library / "regulatory/privacy_notice.txt"
    edit(path, "PRIVACY NOTICE", "PRIVACY NOTICE (updated)")
    with pytest.raises(RegulatoryBlockError, match="bump its version"):
        approve_block(library, "privacy_notice", BY, at=AT)
    data = registry(library)
    data["blocks"]["privacy_notice"]["version"] = "2"
    (library / "regulatory/registry.json").write_text(json.dumps(data))
    entry = approve_block(library, "privacy_notice", "dpo@missiva.example", at=AT)
    assert entry["version"] == "2"
    assert entry["approval"] == {
        "version": "2",
        "approved_by": "dpo@missiva.example",
        "approved_at": "2026-11-20T09:30:00+00:00",
    }
    assert entry["history"][-1]["version"] == "1" and entry["history"][-1]["sha256"]
    assert registry(library)["blocks"]["privacy_notice"] == entry  # written back
    email = Composer(library).render_email("welcome", make_record(language="en"))
    assert "PRIVACY NOTICE (updated)" in email.text
    assert email.provenance.blocks == {"cooling_off": "1", "privacy_notice": "2"}
    assert approve_block(library, "privacy_notice", BY) == entry  # nothing new to approve
    with pytest.raises(RegulatoryBlockError, match=r"add it to regulatory/registry\.json"):
        approve_block(library, "no_such_block", BY)


# -- communication versions and approvals ---------------------------------------------------


def test_draft_refused_in_production_then_approved(library: Path) -> None:
    folder = library / "communications/welcome"
    edit(folder / "email.txt", "{{ t.online }}", "{{ t.online }}\n\nP.S. {{ t.keep_letter }}")
    info = welcome_info(library)
    assert info["status"] == "draft" and "approved_by" not in info
    with pytest.raises(TemplateError, match=r"communication 'welcome' version 1\.2\.0 is a draft"):
        Composer(library).template_version("welcome")
    preview = Composer(library, production=False)
    assert preview.status("welcome") == "draft"
    assert "P.S." in preview.render_email("welcome", make_record()).text
    # the content of 1.2.0 was approved already: a change needs a new version
    with pytest.raises(TemplateError, match="bump the version"):
        approve(library, "welcome", "1.2.0", BY)
    edit(folder / "meta.json", '"version": "1.2.0"', '"version": "1.3.0"')
    with pytest.raises(TemplateError, match=r"cannot approve version 1\.2\.0.* is 1\.3\.0"):
        approve(library, "welcome", "1.2.0", BY)
    record = approve(library, "welcome", "1.3.0", BY, at=AT)
    assert record == {
        "version": "1.3.0",
        "sha256": snapshot(library, "welcome").sha256,
        "approved_by": BY,
        "approved_at": "2026-11-20T09:30:00+00:00",
    }
    assert json.loads((folder / "approvals.json").read_text())[-1] == record
    info = welcome_info(library)
    assert (info["status"], info["version"], info["approved_by"]) == ("approved", "1.3.0", BY)
    composer = Composer(library)
    assert composer.template_version("welcome") == "1.3.0"
    assert composer.render_email("welcome", make_record()).provenance.template_version == "1.3.0"


def test_approve_refuses_a_template_that_does_not_lint(library: Path) -> None:
    folder = library / "communications/welcome"
    edit(folder / "sms.txt", "{{ t.sms_online }}", "{{ t.sms_online }} {{ loyalty_points }}")
    edit(folder / "meta.json", '"version": "1.2.0"', '"version": "1.2.1"')
    with pytest.raises(TemplateError, match=r"does not lint clean.*'loyalty_points'"):
        approve(library, "welcome", "1.2.1", BY)
    assert welcome_info(library)["status"] == "draft"


def test_content_hash_covers_the_folder_except_approvals(library: Path) -> None:
    before = snapshot(library, "welcome")
    assert "approvals.json" not in before.files and "sample.json" in before.files
    assert before.sha256 == content_hash(before.files)
    (library / "communications/welcome/approvals.json").write_text("[]\n")
    assert snapshot(library, "welcome").sha256 == before.sha256
    (library / "communications/welcome/notes.md").write_text("x")
    assert snapshot(library, "welcome").sha256 != before.sha256


def test_rendering_uses_the_bytes_that_were_hashed(library: Path) -> None:
    composer = Composer(library)
    assert composer.template_version("welcome") == "1.2.0"  # snapshot taken, approved
    edit(library / "communications/welcome/web.html", "{% block body %}", "{% block body %}EVIL")
    assert "EVIL" not in composer.render_web("welcome", make_record()).html


# -- lint -----------------------------------------------------------------------------------


def test_lint_finds_a_missing_field(library: Path) -> None:
    edit(
        library / "communications/welcome/web.html",
        "{% block body %}",
        "{% block body %}{{ loyalty_points }}",
    )
    problems = [p for p in lint(library) if not p.warning]  # the edit makes a draft too
    assert problems and all(isinstance(p, LintProblem) for p in problems)
    assert {(p.template, p.language, p.rendition) for p in problems} == {
        ("welcome", "it", "web"),
        ("welcome", "en", "web"),
    }
    for problem in problems:
        assert "communications/welcome/web.html: missing field 'loyalty_points'" in problem.message
    assert str(problems[0]).startswith("welcome [")


def test_lint_finds_a_field_of_the_sample_that_the_extract_does_not_produce(
    library: Path,
) -> None:
    """The sample has the field, so the template renders; onboarding's SQL has no such
    column, so composing would fail: lint names the field, the journey and the SQL."""
    edit(
        library / "communications/welcome/email.txt",
        "{% block body %}",
        "{% block body %}{{ loyalty_points }}",
    )
    samples = json.loads((library / "communications/welcome/sample.json").read_text())
    for records in samples.values():
        for record in records if isinstance(records, list) else [records]:
            record["loyalty_points"] = 120
    (library / "communications/welcome/sample.json").write_text(json.dumps(samples))
    errors = [p for p in lint(library) if not p.warning]
    assert {(p.template, p.language, p.rendition) for p in errors} >= {
        ("welcome", "it", "email_text"),
        ("welcome", "en", "email_text"),
    }
    assert all(p.rendition in ("email_text", "email_html") for p in errors), errors
    journeys = {re.search(r"by journey (\w+)'s extract", p.message)[1] for p in errors}
    assert journeys == {"onboarding", "on_demand_document"}  # both send the welcome
    for problem in errors:
        assert "field 'loyalty_points' is not produced by journey" in problem.message
        assert "_extract.sql): communications/welcome/email.txt" in problem.message


def test_an_edited_draft_is_a_warning_and_an_error_for_production(library: Path) -> None:
    edit(library / "communications/welcome/email.txt", "{% block body %}", "{% block body %}Hi")
    [warning] = [p for p in lint(library, only=["welcome"]) if p.warning]
    assert str(warning).startswith("warning: welcome: draft: edited after version ")
    [error] = [
        p for p in lint(library, only=["welcome"], production=True) if p.template == "welcome"
    ]
    assert not error.warning and "edited after version" in error.message


def test_lint_finds_a_missing_message_and_sample(library: Path) -> None:
    folder = library / "communications/welcome"
    meta = json.loads((folder / "meta.json").read_text())
    del meta["messages"]["en"]["sms_policy"]
    (folder / "meta.json").write_text(json.dumps(meta))
    samples = json.loads((folder / "sample.json").read_text())
    del samples["it"]
    (folder / "sample.json").write_text(json.dumps(samples))
    problems = lint(library)
    assert (
        LintProblem("welcome", "it", "", "no sample record in communications/welcome/sample.json")
        in problems
    )
    [sms] = [p for p in problems if p.rendition == "sms"]
    assert sms.language == "en" and "sms_policy" in sms.message


def test_lint_reports_accessibility_and_tampered_blocks(library: Path) -> None:
    edit(library / "layouts/web.html", '<main id="content" tabindex="-1">', "<div>")
    edit(library / "layouts/web.html", "</main>", "</div>")
    edit(library / "regulatory/cooling_off.html", "14", "7")
    messages = [str(p) for p in lint(library)]
    assert any("regulatory/cooling_off: regulatory block 'cooling_off'" in m for m in messages)
    # sample 2 has no policy, so no cooling-off clause: its page renders and is checked
    assert "welcome [it/web]: sample 2: a page needs exactly one <main> landmark" in messages


# -- preview --------------------------------------------------------------------------------


def test_sample_record() -> None:
    record = sample_record(TEMPLATES_DIR, "welcome", "en")
    assert record["first_name"] == "John" and record["language"] == "en"
    assert record["letter_date"] == datetime.date(2026, 11, 2)
    assert sample_record(TEMPLATES_DIR, "welcome", "fr")["language"] == "it"  # default
    assert Composer().render_sms("welcome", record).text.startswith("Missiva: hello John")


def test_write_preview(tmp_path: Path) -> None:
    out = tmp_path / "preview"
    written = write_preview(TEMPLATES_DIR, "welcome", make_record(), "en", out, screenshots=False)
    names = [path.name for path in written]
    assert names == ["email.html", "email.txt", "sms.txt", "letter.pdf", "web.html", "index.html"]
    assert all(path.parent == out and path.stat().st_size > 0 for path in written)
    assert (out / "letter.pdf").read_bytes().startswith(b"%PDF-")
    assert "Dear Giulia Bianchi" in (out / "email.txt").read_text()
    index = (out / "index.html").read_text()
    assert '<iframe src="email.html"' in index and '<iframe src="web.html"' in index
    for page in ("email.html", "web.html"):  # and as wide as a phone
        assert f'<iframe class="phone-view" src="{page}"' in index
    assert '<object data="letter.pdf" type="application/pdf"' in index
    assert "GSM-7 · 118 septets · 1 segment" in index
    assert "hello Giulia, welcome aboard!" in index
    links = re.findall(r'(?:src|href|data)="([^"]+)"', index)
    assert links and all("/" not in link and ":" not in link for link in links)  # relative


def test_preview_of_a_hostile_record_is_inert(tmp_path: Path) -> None:
    out = tmp_path / "preview"
    write_preview(TEMPLATES_DIR, "welcome", make_record(**HOSTILE), "it", out, screenshots=False)
    index = (out / "index.html").read_text()
    # the SMS bubble shows the name: as text
    assert "<img" not in index and "ciao &lt;img src=&#34;file:///etc/passwd&#34;&gt;," in index


def test_preview_shows_failures_then_raises(tmp_path: Path) -> None:
    out = tmp_path / "preview"
    with pytest.raises(TemplateError, match=r"preview of 'welcome' .*sms: .*limit of 3"):
        record = make_record(first_name="李" * 300)
        write_preview(TEMPLATES_DIR, "welcome", record, "it", out, screenshots=False)
    index = (out / "index.html").read_text()
    assert "limit of 3" in index and not (out / "sms.txt").exists()
    assert (out / "web.html").exists()


def test_templates_list_and_blocks_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from missiva.cli import main

    assert main(["templates", "list", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    welcome = listed["welcome"]
    assert welcome["status"] == "approved" and welcome["version"]
    assert {"email_html", "email_text", "sms", "letter_pdf", "web"} <= set(welcome["renditions"])
    assert main(["templates", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(listed)
    assert welcome["version"] in lines["welcome"] and "approved" in lines["welcome"]
    assert main(["templates", "blocks", "--json"]) == 0
    blocks = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert blocks["cooling_off"]["owner"] and blocks["cooling_off"]["status"] == "approved"
