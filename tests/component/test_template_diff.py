"""Proofing a template change (`missiva templates diff`) and approving it on the evidence.

A private copy of the library in its own git repository (versions come from its
history); real renders, real Chromium screenshots, real pdftoppm pages.
"""

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from browser import chromium_path

from missiva.cli import main
from missiva.composition import TemplateError, approve_block, list_templates
from missiva.composition.proof import diff_templates, report_hash
from missiva.composition.proof_versions import draft_changes, open_side
from missiva.paths import TEMPLATES_DIR
from missiva.records.ledger import Ledger

BY = "compliance@missiva.example"
NEW_WORDING = "Our full privacy notice, updated for 2027, is at"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """The shipped library, committed to a fresh git repository (its version history)."""
    chromium_path()
    repo = tmp_path / "repo"
    copy = repo / "templates"
    shutil.copytree(TEMPLATES_DIR, copy)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "library")
    return copy


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def change_clause_and_layout(library: Path) -> None:
    """New privacy wording (version 2, not approved yet), a new heading colour in the brand
    styles (e-mail, letter, web) and an SMS layout prefix that takes a second segment."""
    for ext in ("html", "txt"):
        edit(
            library / f"regulatory/privacy_notice.{ext}",
            "The full notice is available at",
            NEW_WORDING,
        )
    registry = library / "regulatory/registry.json"
    data = json.loads(registry.read_text())
    data["blocks"]["privacy_notice"]["version"] = "2"
    registry.write_text(json.dumps(data, indent=2))
    edit(
        library / "styles/brand.css",
        "h1, .subject { color: #0b5c8e;",
        "h1, .subject { color: #b42318;",
    )
    prefix = "{{ brand.name }} informs you, as the insurer of your home and your car: "
    edit(library / "layouts/sms.txt", "{{ brand.name }}: ", prefix)  # 2 SMS segments


def test_clause_and_layout_change_shows_in_every_channel(library: Path, tmp_path: Path) -> None:
    change_clause_and_layout(library)
    out = tmp_path / "report"
    args = ["templates", "diff", "welcome", "--from", "approved", "--to", "working"]
    code = main([*args, "--language", "en", "--out", str(out), "--templates", str(library)])
    assert code == 1  # something changed
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["from"]["source"].startswith("git ") and summary["to"]["source"] == "working tree"
    )
    assert summary["from"]["version"] == summary["to"]["version"] == "1.2.0"
    assert summary["channels"] == {c: {"en": True} for c in ("email", "sms", "letter", "web")}

    block = summary["regulatory_blocks"]["privacy_notice"]
    assert (block["from"], block["to"]) == ("1", "2")
    assert block["wording_changed"] and block["pending_approval"]
    assert {"email en", "letter en", "web en"} <= set(block["renditions"])
    assert summary["to"]["pending_blocks"] == ["privacy_notice"]
    assert not summary["regulatory_blocks"]["cooling_off"]["changed"]

    en = summary["languages"]["en"]
    for rendition in ("email_text", "letter_pdf"):  # the new wording, as a diff line
        assert any(
            line.startswith("+") and "updated for 2027" in line for line in en[rendition]["diff"]
        )
        assert not any(
            "updated for 2027" in line for line in en[rendition]["diff"] if line[0] == "-"
        )
    for rendition in ("email_html", "web"):
        assert en[rendition]["source_changed"]
        for view in ("phone", "desktop"):
            assert en[rendition]["views"][view]["changed_pixels"] > 0
            assert (out / en[rendition]["views"][view]["images"]["diff"]).is_file()
    assert en["letter_pdf"]["page_diffs"][0]["changed_pixels"] > 0
    assert en["email_subject"]["changed"] is False  # the subject's text is the same
    sms = en["sms"]
    assert sms["diff"] == [
        "--- from",
        "+++ to",
        "@@ -1 +1 @@",
        "-" + sms["text"]["from"],
        "+" + sms["text"]["to"],
    ]
    assert sms["text"]["to"].startswith("Missiva informs you, as the insurer")
    assert (sms["from"]["segments"], sms["to"]["segments"], sms["segments_changed"]) == (1, 2, True)
    assert sms["to"]["encoding"] == "GSM-7"
    assert summary["required_fields"] == {"changed": False, "by_rendition": {}}

    page = (out / "index.html").read_text()
    assert "updated for 2027" in page and "privacy_notice" in page
    assert 'src="visual/en/letter-1-diff.png"' in page
    # the proof never touched the library's registry: the block is still refused
    assert (
        json.loads((library / "regulatory/registry.json").read_text())["blocks"]["privacy_notice"][
            "approval"
        ]["version"]
        == "1"
    )


def test_unchanged_renditions_show_no_difference(library: Path, tmp_path: Path) -> None:
    summary = diff_templates(
        library, "renewal_notice", "approved", "working", tmp_path / "r", language="it"
    )
    assert summary["changed"] is False
    it = summary["languages"]["it"]
    assert all(not entry["changed"] for entry in it.values())
    pixels = [v["changed_pixels"] for r in ("email_html", "web") for v in it[r]["views"].values()]
    pixels += [p["changed_pixels"] for p in it["letter_pdf"]["page_diffs"]]
    assert len(pixels) == 5 and pixels == [0] * 5
    assert it["sms"]["segments_changed"] is False
    args = ["templates", "diff", "renewal_notice", "--language", "it"]
    assert main([*args, "--out", str(tmp_path / "r2"), "--templates", str(library)]) == 0


def test_older_version_from_history_and_trouble_exit_code(library: Path, tmp_path: Path) -> None:
    args = ["templates", "diff", "welcome", "--from", "0.9.0", "--language", "it"]
    assert main([*args, "--out", str(tmp_path / "x"), "--templates", str(library)]) == 2
    with pytest.raises(TemplateError, match=r"version 0\.9\.0 is not in the git history"):
        diff_templates(library, "welcome", "0.9.0", "working", tmp_path / "y")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("not a report")
    with pytest.raises(TemplateError, match="not empty and not an earlier report"):
        diff_templates(library, "welcome", "approved", "working", tmp_path / "notes")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "not a report"


def test_draft_is_listed_with_its_changes_and_approved_on_the_reviewed_report(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change_clause_and_layout(library)
    meta = library / "communications/welcome/meta.json"
    edit(meta, '"version": "1.2.0"', '"version": "1.3.0"')
    edit(
        meta,
        '"letter_pdf": [\n      "address_line1",',
        '"letter_pdf": [\n      "country",\n      "address_line1",',
    )
    changes = draft_changes(library, "welcome")
    assert changes["since"] == "1.2.0" and changes["files"] == ["meta.json"]
    assert changes["required_fields"]["by_rendition"] == {
        "letter_pdf": {"added": ["country"], "removed": []}
    }
    assert main(["templates", "list", "--templates", str(library)]) == 0
    listing = capsys.readouterr().out
    assert "welcome                  1.3.0    draft" in listing
    assert "since 1.2.0: meta.json; required fields (letter_pdf): +country" in listing

    out = tmp_path / "report"
    summary = diff_templates(library, "welcome", "approved", "working", out, language="it")
    assert summary["required_fields"]["changed"] and summary["to"]["version"] == "1.3.0"
    approve_block(library, "privacy_notice", BY)
    cli = ["templates", "approve", "welcome", "--version", "1.3.0", "--by", BY]
    cli += ["--templates", str(library)]
    stale = tmp_path / "stale"
    shutil.copytree(out, stale)
    edit(library / "communications/welcome/sms.txt", "{{ t.sms_online }}", "{{ t.sms_online }}.")
    assert main([*cli, "--report", str(stale)]) == 1  # reviewed something else
    assert "does not show the content being approved" in capsys.readouterr().err
    edit(library / "communications/welcome/sms.txt", "{{ t.sms_online }}.", "{{ t.sms_online }}")

    assert main([*cli, "--report", str(out)]) == 0
    record = json.loads((library / "communications/welcome/approvals.json").read_text())[-1]
    assert record["version"] == "1.3.0" and record["approved_by"] == BY
    assert record["report_sha256"] == report_hash(out)
    assert (record["reviewed_from"], record["reviewed_changed"]) == ("1.2.0", True)
    welcome = next(row for row in list_templates(library) if row["name"] == "welcome")
    assert welcome["status"] == "approved" and welcome["report_sha256"] == record["report_sha256"]
    (out / "index.html").write_text("edited after review")
    assert report_hash(out) != record["report_sha256"]


def test_ledger_answers_which_version_and_approval_each_communication_went_out_under(
    missiva_home, composed_run, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import create_engine

    from missiva.records.template_versions import versions_sent

    run = composed_run(missiva_home, customers=12)
    composed = sum(c["composed"] for c in run.composed)
    assert composed > 0
    engine = create_engine(missiva_home.ledger_url)
    try:
        rows = versions_sent(engine, TEMPLATES_DIR, "welcome")
    finally:
        engine.dispose()
    approval = json.loads((TEMPLATES_DIR / "communications/welcome/approvals.json").read_text())[-1]
    assert [r["version"] for r in rows] == [approval["version"]]
    assert rows[0]["communications"] == sum(rows[0]["by_status"].values()) >= composed
    assert rows[0]["approval"]["approved_by"] == approval["approved_by"]
    assert rows[0]["approval"]["sha256"] == approval["sha256"]
    assert main(["templates", "sent", "welcome", "--ledger", missiva_home.ledger_url]) == 0
    out = capsys.readouterr().out
    assert f"welcome {approval['version']}: {rows[0]['communications']} (" in out
    assert f"approved by {approval['approved_by']} at {approval['approved_at']}" in out


def test_outside_git_the_working_copy_stands_for_the_version_it_holds(tmp_path: Path) -> None:
    chromium_path()
    library = tmp_path / "templates"  # not a git repository: no history to search
    shutil.copytree(TEMPLATES_DIR, library)
    summary = diff_templates(library, "portal_notice", "approved", "working", tmp_path / "r")
    assert summary["from"]["source"] == summary["to"]["source"] == "working tree"
    assert summary["from"]["status"] == "approved" and summary["changed"] is False
    with pytest.raises(TemplateError, match="git rev-parse"):
        diff_templates(library, "portal_notice", "1.0.0", "working", tmp_path / "r2")


def test_a_version_comes_with_the_newest_library_committed_alongside_it(library: Path) -> None:
    repo = library.parent
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    change_clause_and_layout(library)  # shared files only: welcome 1.2.0 stays approved
    git(repo, "commit", "-qam", "new heading colour, SMS prefix, privacy wording")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert head.stdout != first.stdout
    with open_side(library, "welcome", "approved") as side:
        assert side.source == f"git {head.stdout.strip()[:12]}" and side.version == "1.2.0"
        assert "#b42318" in (side.templates_dir / "styles/brand.css").read_text()
        assert side.pending_blocks == ["privacy_notice"]


def test_an_auditor_sees_who_approved_a_communications_version_on_which_report(
    library: Path, missiva_home, composed_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new welcome version approved on its diff report, then composed from that library:
    ``missiva audit show`` of a welcome names who approved the version it went out under,
    when, and the SHA-256 of the report they reviewed; against a library that holds no
    approval of that version (the shipped one), it says none is on record."""
    edit(library / "communications/welcome/meta.json", '"version": "1.2.0"', '"version": "1.3.0"')
    out = tmp_path / "report"
    diff_templates(library, "welcome", "approved", "working", out, language="it")
    approve = ["templates", "approve", "welcome", "--version", "1.3.0", "--by", BY]
    assert main([*approve, "--templates", str(library), "--report", str(out)]) == 0
    record = json.loads((library / "communications/welcome/approvals.json").read_text())[-1]
    composed_run(replace(missiva_home, templates_dir=library), customers=12)
    with Ledger(missiva_home.ledger_url) as ledger:
        welcome = next(c for c in ledger.communications() if c.template == "welcome")
    assert (welcome.status, welcome.template_version) == ("composed", "1.3.0")
    capsys.readouterr()

    assert main(["audit", "show", welcome.communication_id, "--templates", str(library)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["template_approval"] == {
        "approved_by": BY,
        "approved_at": record["approved_at"],
        "sha256": record["sha256"],
        "report_sha256": report_hash(out),
    }
    assert main(["audit", "show", welcome.communication_id]) == 0
    assert json.loads(capsys.readouterr().out)["template_approval"] is None
