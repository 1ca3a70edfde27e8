"""The ``missiva`` command line: seed demo data, report runs, audit the ledger."""

import argparse
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from missiva.delivery.review_cli import add_review
from missiva.devtools.bench_cli import add_bench
from missiva.files import write_atomic
from missiva.paths import PROJECT_ROOT, TEMPLATES_DIR
from missiva.privacy.cli import add_privacy
from missiva.settings import Settings
from missiva.templates_cli import add_template_review


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.devtools.seed import seed

    options = {"customers": args.customers, "seed": args.seed, "joined_on": args.joined_on}
    if args.url:  # any SQLAlchemy database, e.g. postgresql+psycopg://...
        from sqlalchemy.engine import make_url

        from missiva.devtools.seed_url import seed_url

        report = seed_url(args.url, **options)
        where = make_url(args.url).render_as_string(hide_password=True)
    else:
        report = seed(Path(args.db or settings.core_db), **options)
        where = report.db_path
    print(
        f"seeded {report.customers} customers into {where} "
        f"({report.in_interval} joined on {report.joined_on}, "
        f"{len(report.defects)} with injected defects)"
    )
    return 0


def _utc_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _ledger_url(args: argparse.Namespace, settings: Settings) -> str:
    """The ledger to read: ``--ledger`` or the demo's. A SQLite file that does not exist
    is refused (opening it would create an empty ledger and answer "nothing")."""
    from sqlalchemy.engine import make_url

    url = args.ledger or settings.ledger_url
    parsed = make_url(url)
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if on_disk and not Path(database).is_file():
        raise FileNotFoundError(f"no ledger at {database} (run a journey, or give --ledger)")
    return url


def _print_json(rows: list[dict]) -> None:
    json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _print_rows(comms: list, as_json: bool) -> None:
    rows = [c.as_dict() for c in comms]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        print(
            f"{row['created_at']}  {row['customer_id']:<10} {row['journey']:<12} "
            f"{row['channel'] or '-':<6} {row['status']:<11} {row['reason'] or ''}"
        )


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.records import audit
    from missiva.records.ledger import Ledger
    from missiva.records.store import open_store

    with Ledger(_ledger_url(args, settings)) as ledger:
        command = args.audit_command
        if command == "list":
            _print_rows(ledger.communications(journey=args.journey, limit=args.limit), args.json)
        elif command == "trace":
            filters = (args.customer, args.template, args.clause, args.since, args.until)
            if not any((*filters, args.reference)):
                raise audit.AuditError(
                    "give at least one of --customer, --reference, --template, --clause, "
                    "--since, --until"
                )
            comms = ledger.trace(
                args.customer,
                template=args.template,
                block=args.clause,
                since=args.since,
                until=args.until,
                reference=args.reference,
            )
            _print_rows(comms, args.json)
        elif command == "clause":
            comms = ledger.clause_recipients(args.block, args.version, args.since, args.until)
            _print_rows(comms, args.json)
        elif command == "show":
            _print_json(audit.show(ledger, args.communication_id, args.templates))
        elif command == "evidence":
            store = open_store(settings.archive_url)
            write_atomic(args.out, audit.evidence(ledger, store, args.customer))
            print(f"evidence pack for {args.customer}: {args.out}")
        elif command == "rerender":
            result = audit.rerender(ledger, settings, args.communication_id)
            if result.identical:
                print(f"identical: sha256 {result.archived_sha256}")
                return 0
            print(f"DIFFERENT: archived sha256 {result.archived_sha256}")
            print(f"        re-rendered sha256 {result.rerendered_sha256}")
            print("\n".join(result.differences))
            return 1
        elif command == "verify":
            store = open_store(settings.archive_url)
            by = "missiva audit verify"
            result = audit.verify(ledger, store, full=args.full, by=by, settings=settings)
            for line in result.problems + [f"unrecorded: {u}" for u in result.files.unrecorded]:
                print(line)
            checked = result.checked
            if result.problems:
                first = result.problems[0]
                print(
                    f"verify ({checked}): {len(result.problems)} problem(s); first: {first}",
                    file=sys.stderr,
                )
                return 1
            head = result.anchored
            at = f"event {head.event_id}, {head.events} events" if head else "empty ledger"
            print(f"verify: intact ({checked}; head anchored at {at})")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.records.ledger import Ledger
    from missiva.records.run_report import summarize

    ledger = Ledger(_ledger_url(args, settings))
    run_id = args.run_id
    if run_id is None:
        latest = ledger.latest_run(args.dag_id)
        if latest is None:
            print(f"missiva: no run of {args.dag_id} in the ledger", file=sys.stderr)
            return 1
        run_id = latest.run_id
    summary = summarize(ledger, args.dag_id, run_id)
    if args.json:
        json.dump(summary.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print("\n".join(summary.lines()))
    return 0


def _smtp_sink(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.devtools.smtp_sink import serve_forever

    serve_forever(args.host, args.port, Path(args.maildir or settings.home / "mail"))
    return 0


def _sms_sink(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.devtools.sms_sink import serve_forever

    serve_forever(args.host, args.port, Path(args.out or settings.home / "sms"))
    return 0


def _new_journey(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.devtools.scaffold import new_journey, next_steps

    root = Path(args.root).resolve()
    for path in new_journey(args.name, root=root, by=args.by):
        print(f"created {path.relative_to(root)}")
    print(f"added table {args.name}_events to include/sql/core_schema.sql")
    print(next_steps(args.name))
    return 0


def _templates(args: argparse.Namespace, settings: Settings) -> int:
    from missiva import composition

    if args.templates_command == "blocks":
        rows = composition.block_status(TEMPLATES_DIR)
        if args.json:
            _print_json(rows)
            return 0
        for row in rows:
            approval = f"approved by {row['approved_by']}" if row.get("approved_by") else ""
            print(
                f"{row['name']:<24} {row['version']:<8} {row['status']:<9} "
                f"{'owner ' + row['owner']:<45} {approval}".rstrip()
            )
        return 0
    if args.templates_command == "new-block":
        for path in composition.new_block(
            TEMPLATES_DIR, args.block, owner=args.owner, title=args.title
        ):
            print(f"wrote {path.relative_to(PROJECT_ROOT)}")
        print(
            f"next: write its wording, then missiva templates approve-block {args.block} --by WHO"
        )
        return 0
    if args.templates_command == "reference":
        from missiva.composition.reference import reference
        from missiva.journeys import JOURNEYS

        text = reference(TEMPLATES_DIR, JOURNEYS)
        if args.out:
            write_atomic(args.out, text.encode("utf-8"))
            print(f"wrote {args.out}")
        else:
            sys.stdout.write(text)
        return 0
    if args.templates_command == "approve-block":
        record = composition.approve_block(TEMPLATES_DIR, args.block, args.by)
        print(f"approved regulatory block {args.block} {record['version']} by {args.by}")
        return 0
    problems = composition.lint(TEMPLATES_DIR, only=args.names or None, production=args.production)
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = [p for p in problems if not p.warning]
    print(f"lint: {len(errors)} problem(s), {len(problems) - len(errors)} warning(s)")
    return 1 if errors else 0


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.composition import write_preview
    from missiva.devtools.preview_data import preview_record

    record = preview_record(
        args.communication, args.customer, args.language, settings, args.since, args.until
    )
    paths = write_preview(
        TEMPLATES_DIR, args.communication, record, args.language or record["language"], args.out
    )
    for path in paths:
        print(path)
    return 0


def _events(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.delivery import reports as delivery_reports
    from missiva.records.ledger import Ledger

    data = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    payload = delivery_reports.loads(data)
    with Ledger(_ledger_url(args, settings)) as ledger:
        result = delivery_reports.ingest(
            ledger, payload, message_id_domain=settings.message_id_domain, source="cli"
        )
    for rejected in result.rejected:
        print(f"item {rejected.index}: rejected: {rejected.reason}", file=sys.stderr)
    print(result.summary())
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="missiva", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_seed(sub)
    _add_audit(sub)
    _add_report(sub)
    _add_templates(sub)
    _add_preview(sub)
    add_bench(sub)
    add_review(sub)
    add_privacy(sub)
    _add_events(sub)
    _add_sinks(sub)
    _add_new_journey(sub)
    return parser


def _add_seed(sub: Any) -> None:
    """``seed``: the demo core-systems database."""
    seed = sub.add_parser("seed", help="build the demo core-systems database")
    seed.add_argument("--db", help="SQLite file (default: $MISSIVA_HOME/core.db)")
    seed.add_argument("--url", help="SQLAlchemy URL of another database (instead of --db)")
    seed.add_argument("--customers", type=int, default=200)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--joined-on", type=date.fromisoformat, default=date(2026, 11, 2))
    seed.set_defaults(handler=_seed)


def _add_audit(sub: Any) -> None:
    """``audit``: query and verify the ledger."""
    audit = sub.add_parser("audit", help="query and verify the communications ledger")
    audit.add_argument("--ledger", help="SQLAlchemy URL (default: the demo ledger)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    listing = audit_sub.add_parser("list", help="communications, oldest first")
    listing.add_argument("--journey")
    listing.add_argument("--limit", type=_positive)
    trace = audit_sub.add_parser("trace", help="by customer, template, clause and/or date range")
    trace.add_argument("--customer")
    trace.add_argument("--reference", help="as printed on a letter, e.g. MSV-7K3F-Q9XD-2H")
    trace.add_argument("--template")
    trace.add_argument("--clause", help="a regulatory block name")
    clause = audit_sub.add_parser("clause", help="who received clause X version N (sent only)")
    clause.add_argument("block")
    clause.add_argument("--version")
    for p in (trace, clause):
        p.add_argument("--since", type=_utc_datetime, help="ISO date or datetime (UTC)")
        p.add_argument("--until", type=_utc_datetime, help="exclusive; ISO date or datetime")
    for p in (listing, trace, clause):
        p.add_argument("--json", action="store_true")
    show = audit_sub.add_parser("show", help="one communication with events (JSON)")
    show.add_argument("communication_id")
    show.add_argument("--json", action="store_true", help="JSON output (the only format)")
    show.add_argument("--templates", type=Path, default=TEMPLATES_DIR, help="template library")
    evidence = audit_sub.add_parser("evidence", help="a ZIP of everything about a customer")
    evidence.add_argument("--customer", required=True)
    evidence.add_argument("--out", type=Path, required=True)
    rerender = audit_sub.add_parser("rerender", help="re-render and compare with the archive")
    rerender.add_argument("communication_id")
    verify = audit_sub.add_parser(
        "verify",
        help="anchors, keyed hash chain, row digests and archived objects, from the last "
        "verified anchor on",
    )
    verify.add_argument(
        "--full", action="store_true", help="re-check the whole history, not only what is new"
    )
    audit.set_defaults(handler=_audit)


def _add_report(sub: Any) -> None:
    """``report``: a journey run's summary."""
    report = sub.add_parser("report", help="summary of a journey run")
    report.add_argument("--dag-id", default="onboarding")
    report.add_argument("--run-id", help="default: the latest run")
    report.add_argument("--json", action="store_true")
    report.add_argument("--ledger")
    report.set_defaults(handler=_report)


def _add_templates(sub: Any) -> None:
    """``templates``: list, approve and lint the template library."""
    templates = sub.add_parser("templates", help="the template library: versions, approvals")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    add_template_review(templates_sub)  # list, diff, approve
    lint = templates_sub.add_parser(
        "lint", help="render everything against sample data and the journeys' extract columns"
    )
    lint.add_argument("--production", action="store_true", help="drafts are errors, not warnings")
    lint.add_argument("names", nargs="*", help="only these communications (default: all)")
    blocks = templates_sub.add_parser("blocks", help="regulatory blocks: owner, version, approval")
    blocks.add_argument("--json", action="store_true", help="JSON, one object per entry")
    approve_block = templates_sub.add_parser("approve-block", help="approve a regulatory block")
    approve_block.add_argument("block")
    approve_block.add_argument("--by", required=True)
    new_block = templates_sub.add_parser("new-block", help="a regulatory block to write, approve")
    new_block.add_argument("block", help="name: lower-case letters, digits, _ or -")
    new_block.add_argument("--owner", required=True, help="who owns the wording (e-mail)")
    new_block.add_argument("--title", required=True, help="what the clause is")
    reference = templates_sub.add_parser(
        "reference", help="the author's reference: filters, context, Journey fields, blocks"
    )
    reference.add_argument("--out", type=Path, help="write it there (default: standard output)")
    templates.set_defaults(handler=_templates)


def _add_preview(sub: Any) -> None:
    """``preview``: a communication's renditions side by side."""
    preview = sub.add_parser("preview", help="every rendition of a communication, side by side")
    preview.add_argument("communication")
    who = preview.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a customer id of the demo core systems")
    who.add_argument("--sample", action="store_true", help="the communication's sample data")
    preview.add_argument(
        "--since",
        type=date.fromisoformat,
        help="with --customer: start of the journey's data interval (e.g. the billing month)",
    )
    preview.add_argument(
        "--until", type=date.fromisoformat, help="with --customer: end of the interval"
    )
    preview.add_argument("--language", choices=("it", "en"))
    preview.add_argument("--out", type=Path, required=True)
    preview.set_defaults(handler=_preview)


def _add_events(sub: Any) -> None:
    """``events``: delivery reports from providers."""
    events = sub.add_parser("events", help="delivery reports from providers (bounces...)")
    events.add_argument("--ledger", help="SQLAlchemy URL (default: the demo ledger)")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    ingest = events_sub.add_parser("ingest", help="apply a JSON file of delivery reports")
    ingest.add_argument("file", help="a JSON file, or - for standard input")
    events.set_defaults(handler=_events)


def _add_sinks(sub: Any) -> None:
    """``smtp-sink`` and ``sms-sink``: local stand-ins for the providers."""
    sink = sub.add_parser("smtp-sink", help="a local SMTP server storing mail in a Maildir")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=8025)
    sink.add_argument("--maildir")
    sink.set_defaults(handler=_smtp_sink)
    sms_sink = sub.add_parser("sms-sink", help="a local SMS provider storing messages as JSON")
    sms_sink.add_argument("--host", default="127.0.0.1")
    sms_sink.add_argument("--port", type=int, default=8026)
    sms_sink.add_argument("--out", help="folder (default: $MISSIVA_HOME/sms)")
    sms_sink.set_defaults(handler=_sms_sink)


def _add_new_journey(sub: Any) -> None:
    """``new-journey``: a journey scaffold."""
    scaffold = sub.add_parser("new-journey", help="scaffold a journey that runs on the demo")
    scaffold.add_argument("name", help="snake_case: the journey, DAG id and communication")
    scaffold.add_argument("--root", default=PROJECT_ROOT, help="repository root (default: this)")
    scaffold.add_argument("--by", default="scaffold", help="who approves the new templates")
    scaffold.set_defaults(handler=_new_journey)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, Settings.from_env())
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # one clear line for the operator, not a traceback
        print(f"missiva: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
