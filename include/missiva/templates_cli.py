"""``missiva templates list | diff | approve | sent``: proofing and approving a template
change, and what went out under each approved version.

``diff`` exits like diff(1): 0 when nothing changed, 1 when something did, 2 on trouble.
``approve --report DIR`` records the hash of the diff report that was reviewed in the
approval (approving a new version without one is allowed, with a note).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from missiva.paths import TEMPLATES_DIR
from missiva.settings import Settings


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.composition import list_templates
    from missiva.composition.errors import TemplateError
    from missiva.composition.proof_versions import draft_changes

    rows = list_templates(args.templates)
    for row in rows:
        if row["status"] == "draft":
            try:
                row["changes"] = draft_changes(args.templates, row["name"])
            except TemplateError as exc:
                row["changes"] = {"error": str(exc)}
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        approval = f"approved by {row['approved_by']}" if row.get("approved_by") else ""
        if row.get("report_sha256"):
            approval += f" (report {row['report_sha256'][:12]})"
        print(
            f"{row['name']:<24} {row['version']:<8} {row['status']:<9} "
            f"{', '.join(row['renditions']):<45} {approval}".rstrip()
        )
        if "changes" in row:
            print(f"    {_describe_changes(row['changes'])}")
    return 0


def _describe_changes(changes: dict[str, Any]) -> str:
    """One line: what a draft changes since its approved version."""
    if "error" in changes:
        return f"changes unknown: {changes['error']}"
    if changes["since"] is None:
        return "never approved"
    parts = [f"since {changes['since']}: " + (", ".join(changes["files"]) or "no file changed")]
    for key, fields in changes["required_fields"].get("by_rendition", {}).items():
        added = "".join(f" +{f}" for f in fields["added"])
        removed = "".join(f" -{f}" for f in fields["removed"])
        parts.append(f"required fields ({key}):{added}{removed}")
    return "; ".join(parts)


def _approve(args: argparse.Namespace, settings: Settings) -> int:
    from missiva import composition
    from missiva.composition import library

    record = composition.approve(
        args.templates, args.name, args.version, args.by, report=args.report
    )
    evidence = f" on report {record['report_sha256']}" if record.get("report_sha256") else ""
    print(f"approved {args.name} {record['version']} by {record['approved_by']}{evidence}")
    if not evidence and len(library.read_approvals(args.templates, args.name)) > 1:
        print(
            f"note: approved without a diff report; `missiva templates diff {args.name} --out "
            "DIR` then `approve ... --report DIR` records what was reviewed",
            file=sys.stderr,
        )
    return 0


def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.composition.proof import diff_templates

    try:
        record, label, language = None, "sample", args.language
        if args.customer:
            from missiva.devtools.preview_data import preview_record

            record = preview_record(args.name, args.customer, args.language, settings)
            label, language = f"customer {args.customer}", language or record["language"]
        summary = diff_templates(
            args.templates,
            args.name,
            args.from_label,
            args.to_label,
            args.out,
            language=language,
            record=record,
            record_label=label,
        )
    except Exception as exc:  # trouble is 2, as for diff(1)
        print(f"missiva: {exc}", file=sys.stderr)
        return 2
    old, new = summary["from"], summary["to"]
    print(f"{args.name}: {old['version']} ({old['source']}) -> {new['version']} ({new['source']})")
    for channel, by_language in summary["channels"].items():
        states = ", ".join(
            f"{lang} {'CHANGED' if c else 'same'}" for lang, c in by_language.items()
        )
        print(f"  {channel:<7} {states}")
    for block, row in summary["regulatory_blocks"].items():
        if row["changed"]:
            pending = " (pending approval)" if row["pending_approval"] else ""
            print(f"  regulatory {block}: version {row['from']} -> {row['to']}{pending}")
    for key, fields in summary["required_fields"]["by_rendition"].items():
        print(f"  required fields ({key}): +{fields['added']} -{fields['removed']}")
    print(f"report: {Path(args.out) / 'index.html'}")
    return 1 if summary["changed"] else 0


def _sent(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.cli import _ledger_url
    from missiva.records.ledger import Ledger
    from missiva.records.template_versions import versions_sent

    with Ledger(_ledger_url(args, settings)) as ledger:
        rows = versions_sent(ledger.engine, args.templates, args.name)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(row["by_status"].items()))
        approval = row["approval"]
        on = "no approval on record"
        if approval:
            report = approval.get("report_sha256")
            on = f"approved by {approval['approved_by']} at {approval['approved_at']}" + (
                f", report {report}" if report else ", no diff report"
            )
        print(
            f"{args.name} {row['version']}: {row['communications']} ({statuses}), "
            f"{row['first']} .. {row['last']}; {on}"
        )
    return 0


def add_template_review(templates_sub: Any) -> None:
    """Register ``list``, ``diff``, ``approve`` and ``sent`` under ``missiva templates``."""
    listing = templates_sub.add_parser(
        "list", help="communications: version, status, renditions; what each draft changes"
    )
    listing.add_argument("--json", action="store_true", help="JSON, one object per entry")
    listing.set_defaults(handler=_list)

    diff = templates_sub.add_parser(
        "diff", help="proof a change: both versions' renditions side by side, with differences"
    )
    diff.add_argument("name")
    diff.add_argument(
        "--from", dest="from_label", default="approved", help="a version, approved or working"
    )
    diff.add_argument("--to", dest="to_label", default="working", help="likewise")
    diff.add_argument("--language", help="only this language (default: every one)")
    diff.add_argument("--customer", help="render a demo customer's record, not the samples")
    diff.add_argument("--out", type=Path, required=True, help="the report folder")
    diff.set_defaults(handler=_diff)

    approve = templates_sub.add_parser("approve", help="record an approval of a version")
    approve.add_argument("name")
    approve.add_argument("--version", required=True)
    approve.add_argument("--by", required=True, help="who approves (e-mail or name)")
    approve.add_argument(
        "--report", type=Path, help="the diff report reviewed (templates diff --out DIR)"
    )
    approve.set_defaults(handler=_approve)

    sent = templates_sub.add_parser(
        "sent", help="communications in the ledger per version, and the approval of each"
    )
    sent.add_argument("name")
    sent.add_argument("--ledger", help="SQLAlchemy URL (default: the demo ledger)")
    sent.add_argument("--json", action="store_true")
    sent.set_defaults(handler=_sent)

    for parser in (listing, diff, approve, sent):
        parser.add_argument(
            "--templates", type=Path, default=TEMPLATES_DIR, help="the library (default: ours)"
        )
