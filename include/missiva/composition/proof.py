"""Proofing a template change: every rendition of two versions, side by side, with the
differences.

:func:`diff_templates` renders both versions of a communication (see
:mod:`missiva.composition.proof_versions`) from one record per language (the merged
samples of both versions, or a real customer's record) and writes a report folder:

- ``summary.json``: per channel and language whether it changed; text diffs of subjects,
  e-mail text, SMS and the letter's text; SMS encoding and segment counts; changed pixels
  of the HTML renditions (phone and desktop widths) and of each PDF page; the regulatory
  blocks rendered and their versions; the required fields added or removed;
- ``index.html``: all of it for a reviewer (:mod:`missiva.composition.proof_report`);
- ``from/<lang>/`` and ``to/<lang>/``: the renditions; ``visual/<lang>/``: screenshots,
  page images and red-on-faded diff overlays.

:func:`report_hash` is the hash an approval records for the report that was reviewed.
"""

import difflib
import io
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from missiva.composition import library, proof_visual
from missiva.composition.engine import Composer
from missiva.composition.errors import TemplateError
from missiva.composition.lint import sample_record
from missiva.composition.proof_report import render_index
from missiva.composition.proof_versions import Side, field_changes, open_side
from missiva.files import write_atomic

SUMMARY_FILE = "summary.json"
#: Channels of the summary and the renditions whose change changes them.
CHANNELS = {
    "email": ("email_subject", "email_text", "email_html"),
    "sms": ("sms",),
    "letter": ("letter_pdf",),
    "web": ("web",),
}
_RENDERERS = {"email": "render_email", "sms": "render_sms", "letter": "render_letter"}


def diff_templates(
    templates_dir: Path,
    name: str,
    from_label: str,
    to_label: str,
    out_dir: Path,
    *,
    language: str | None = None,
    record: Mapping[str, Any] | None = None,
    record_label: str = "sample",
) -> dict[str, Any]:
    """Write the proof report of ``name`` from ``from_label`` to ``to_label``; its summary.

    ``out_dir`` must be empty, new, or an earlier report (replaced: what is hashed on
    approval is this report only).
    """
    out = _fresh_folder(Path(out_dir))
    with (
        open_side(templates_dir, name, from_label) as old,
        open_side(templates_dir, name, to_label) as new,
    ):
        composers = [Composer(side.templates_dir, production=False) for side in (old, new)]
        languages = sorted({lang for c in composers for lang in c.languages(name)})
        if language:
            if language not in languages:
                raise TemplateError(f"{name!r} is not written in {language!r} ({languages})")
            languages = [language]
        per_language = {}
        blocks: dict[str, dict[str, Any]] = {}
        with proof_visual.browser() as chromium:
            for lang in languages:
                ctx = _context(old, new, name, lang, record)
                rendered = [_render(c, name, ctx) for c in composers]
                stamps = (f"{name} {old.version}", f"{name} {new.version}")
                per_language[lang] = _compare(rendered, out, lang, chromium, stamps)
                _collect_blocks(blocks, rendered, lang)
        summary = {
            "communication": name,
            "from": old.describe(),
            "to": new.describe(),
            "record": record_label,
            "languages": per_language,
            "channels": {
                channel: {
                    lang: any(per_language[lang][r]["changed"] for r in renditions)
                    for lang in languages
                }
                for channel, renditions in CHANNELS.items()
            },
            "regulatory_blocks": _block_changes(blocks, old, new),
            "required_fields": field_changes(old, new, name),
        }
    summary["changed"] = (
        any(v for by_lang in summary["channels"].values() for v in by_lang.values())
        or any(b["changed"] for b in summary["regulatory_blocks"].values())
        or summary["required_fields"]["changed"]
    )
    write_atomic(out / SUMMARY_FILE, (json.dumps(summary, indent=2) + "\n").encode())
    write_atomic(out / "index.html", render_index(summary).encode("utf-8"))
    return summary


def report_hash(report_dir: Path) -> str:
    """SHA-256 over every file of a report folder (``sha256sum``-style lines, sorted)."""
    root = Path(report_dir)
    if not (root / SUMMARY_FILE).is_file():
        raise TemplateError(f"{root}: not a diff report (no {SUMMARY_FILE})")
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return library.content_hash(files)


def _fresh_folder(out: Path) -> Path:
    if out.is_dir() and any(out.iterdir()):
        if not (out / SUMMARY_FILE).is_file():
            raise TemplateError(f"{out}: not empty and not an earlier report; give a new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def read_summary(report_dir: Path) -> dict[str, Any]:
    """The ``summary.json`` of a report folder."""
    path = Path(report_dir) / SUMMARY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{path}: not a readable diff report: {exc}") from exc


# -- rendering ----------------------------------------------------------------------------


def _context(
    old: Side, new: Side, name: str, lang: str, record: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One record for both sides, so only the templates differ."""
    if record is None:
        merged: dict[str, Any] = {}
        for side in (old, new):
            try:
                merged.update(sample_record(side.templates_dir, name, lang))
            except TemplateError:
                continue  # a version without samples: the other side's
        record = merged
    return {**record, "language": lang, "communication_id": f"{name}-proof"}


def _render(composer: Composer, name: str, ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Each panel's rendered content, or the error that stopped it (absent: None)."""
    renditions = composer.renditions(name)
    results: dict[str, Any] = {}
    for panel, needs in (("email", "email_html"), ("sms", "sms"), ("letter", "letter_pdf")):
        results[panel] = (
            _try(composer, _RENDERERS[panel], name, ctx) if needs in renditions else None
        )
    results["web"] = _try(composer, "render_web", name, ctx) if "web" in renditions else None
    results["email_text"] = "email_text" in renditions
    return results


def _try(composer: Composer, method: str, name: str, ctx: Mapping[str, Any]) -> Any:
    try:
        return getattr(composer, method)(name, ctx)
    except TemplateError as exc:
        return exc


# -- comparing ----------------------------------------------------------------------------


def _compare(
    rendered: list[dict[str, Any]], out: Path, lang: str, chromium: Any, stamps: tuple[str, str]
) -> dict:
    """Every rendition of one language: what changed, files written under ``out``.

    ``stamps`` (each side's ``<name> <version>``, stamped into page metadata) do not
    count as differences of the HTML source."""
    old, new = rendered
    sides = {"from": old, "to": new}
    visual = out / "visual" / lang
    visual.mkdir(parents=True, exist_ok=True)

    def texts(panel: str, get: Any) -> list[str | None]:
        return [get(s[panel]) if _ok(s[panel]) else None for s in (old, new)]

    entries = {
        "email_subject": _text_entry(
            old["email"], new["email"], texts("email", lambda e: e.subject)
        ),
        "email_text": _text_entry(
            old["email"] if old["email_text"] else None,
            new["email"] if new["email_text"] else None,
            texts("email", lambda e: e.text),
        ),
        "email_html": _html_entry(
            old["email"], new["email"], visual, "email_html", chromium, stamps
        ),
        "sms": _text_entry(old["sms"], new["sms"], texts("sms", lambda s: s.text)),
        "letter_pdf": _letter_entry(old["letter"], new["letter"], visual),
        "web": _html_entry(old["web"], new["web"], visual, "web", chromium, stamps),
    }
    for key, side in sides.items():
        if _ok(side["sms"]):
            entries["sms"][key] = {
                "encoding": side["sms"].encoding,
                "segments": side["sms"].segments,
            }
    entries["sms"]["segments_changed"] = entries["sms"].get("from", {}).get("segments") != (
        entries["sms"].get("to", {}).get("segments")
    )
    for key, side in sides.items():
        folder = out / key / lang
        folder.mkdir(parents=True, exist_ok=True)
        _write_side(folder, side)
    return entries


def _ok(result: Any) -> bool:
    return result is not None and not isinstance(result, Exception)


def _errors(old: Any, new: Any) -> dict[str, str | None]:
    return {
        k: str(v) if isinstance(v, Exception) else None for k, v in (("from", old), ("to", new))
    }


def _base_entry(old: Any, new: Any) -> dict[str, Any]:
    errors = _errors(old, new)
    return {
        "present": {"from": old is not None, "to": new is not None},
        "errors": errors,
        "changed": (old is None) != (new is None) or errors["from"] != errors["to"],
    }


def _text_entry(old: Any, new: Any, texts: list[str | None]) -> dict[str, Any]:
    entry = _base_entry(old, new)
    before, after = (t if t is not None else "" for t in texts)
    diff = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), "from", "to", lineterm="", n=2
        )
    )
    entry.update(text={"from": texts[0], "to": texts[1]}, diff=diff)
    entry["changed"] = entry["changed"] or bool(diff)
    return entry


def _html_entry(
    old: Any, new: Any, visual: Path, rendition: str, chromium: Any, stamps: tuple[str, str]
) -> dict:
    entry = _base_entry(old, new)
    htmls = [r.html if _ok(r) else None for r in (old, new)]
    sources = [h.replace(stamp, "") if h else h for h, stamp in zip(htmls, stamps, strict=True)]
    entry["source_changed"] = sources[0] != sources[1]
    entry["views"] = {}
    if any(htmls):
        for view, width in proof_visual.WIDTHS.items():
            shots = [
                proof_visual.screenshot(
                    chromium, html, width, visual / f"{rendition}-{view}-{k}.png"
                )
                if html is not None
                else None
                for k, html in zip(("from", "to"), htmls, strict=True)
            ]
            diff_png = visual / f"{rendition}-{view}-diff.png"
            entry["views"][view] = {
                **proof_visual.pixel_diff(*shots, diff_png),
                "images": _relative(visual, shots, diff_png),
            }
    entry["changed"] = (
        entry["changed"]
        or entry["source_changed"]
        or any(v["changed_pixels"] for v in entry["views"].values())
    )
    return entry


def _letter_entry(old: Any, new: Any, visual: Path) -> dict[str, Any]:
    pdfs = [r.pdf if _ok(r) else None for r in (old, new)]
    entry = _text_entry(old, new, [_pdf_text(pdf) if pdf else None for pdf in pdfs])
    pages = [
        proof_visual.pdf_pages(pdf, visual / f"letter-{k}") if pdf else []
        for k, pdf in zip(("from", "to"), pdfs, strict=True)
    ]
    entry["pages"] = {"from": len(pages[0]), "to": len(pages[1])}
    entry["page_diffs"] = []
    for number in range(1, max(map(len, pages), default=0) + 1):
        shots = [side[number - 1] if number <= len(side) else None for side in pages]
        diff_png = visual / f"letter-{number}-diff.png"
        entry["page_diffs"].append(
            {
                "page": number,
                **proof_visual.pixel_diff(*shots, diff_png),
                "images": _relative(visual, shots, diff_png),
            }
        )
    entry["changed"] = entry["changed"] or any(p["changed_pixels"] for p in entry["page_diffs"])
    return entry


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _relative(visual: Path, shots: list[Path | None], diff_png: Path) -> dict[str, str | None]:
    base = visual.parent.parent
    paths = {"from": shots[0], "to": shots[1], "diff": diff_png}
    return {k: p.relative_to(base).as_posix() if p else None for k, p in paths.items()}


def _write_side(folder: Path, side: Mapping[str, Any]) -> None:
    if _ok(side["email"]):
        write_atomic(folder / "email.html", side["email"].html.encode("utf-8"))
        if side["email_text"]:
            write_atomic(folder / "email.txt", side["email"].text.encode("utf-8"))
    if _ok(side["sms"]):
        write_atomic(folder / "sms.txt", side["sms"].text.encode("utf-8"))
    if _ok(side["letter"]):
        write_atomic(folder / "letter.pdf", side["letter"].pdf)
    if _ok(side["web"]):
        write_atomic(folder / "web.html", side["web"].html.encode("utf-8"))


# -- regulatory blocks --------------------------------------------------------------------


def _collect_blocks(blocks: dict[str, dict[str, Any]], rendered: list[dict], lang: str) -> None:
    """Which block versions each side rendered, and in which renditions."""
    for key, side in zip(("from", "to"), rendered, strict=True):
        for panel in ("email", "sms", "letter", "web"):
            if _ok(side[panel]):
                for block, version in side[panel].provenance.blocks.items():
                    row = blocks.setdefault(block, {"from": None, "to": None, "renditions": []})
                    row[key] = version
                    where = f"{panel} {lang}"
                    if where not in row["renditions"]:
                        row["renditions"].append(where)


def _block_changes(blocks: dict[str, dict[str, Any]], old: Side, new: Side) -> dict:
    """Each rendered block: versions, whether its wording changed, whether it is approved."""
    hashes = [
        {name: _block_hash(side.templates_dir, name) for name in blocks} for side in (old, new)
    ]
    result = {}
    for name, row in sorted(blocks.items()):
        wording = hashes[0][name] != hashes[1][name]
        result[name] = {
            **row,
            "wording_changed": wording,
            "changed": wording or row["from"] != row["to"],
            "pending_approval": name in new.pending_blocks,
        }
    return result


def _block_hash(templates_dir: Path, name: str) -> str:
    files = library.block_files(templates_dir, name)
    return library.content_hash(files)
