"""``missiva review``: list the communications whose outcome is unknown, and settle them."""

import argparse
import getpass
import json
from typing import Any

from missiva.settings import Settings

#: what ``review list`` shows of each communication
LISTED = (
    "communication_id",
    "reference",
    "journey",
    "run_id",
    "channel",
    "recipient",
    "updated_at",
    "reason",
)


def _user() -> str:
    """Who runs the command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _review(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.delivery.review import (
        ReviewError,
        awaiting_review,
        provider_loaders,
        resolve,
    )
    from missiva.records.ledger import Ledger

    if args.review_command == "list":
        with Ledger(settings.ledger_url) as ledger:
            items = awaiting_review(ledger, journey=args.journey, run_id=args.run)
        rows = [{k: c.as_dict()[k] for k in LISTED} for c in items]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for row in rows:
                print(
                    f"{row['communication_id']}  {row['reference']}  {row['journey']}  "
                    f"{row['channel']} to {row['recipient']}  since {row['updated_at']}\n"
                    f"    {row['reason']}"
                )
            print(f"{len(rows)} awaiting review")
        return 0
    providers = provider_loaders(args.smtp) if args.decision == "resend" else {}
    try:
        done = resolve(
            settings,
            args.communication_id,
            args.decision,
            by=args.by if args.by is not None else _user(),
            why=args.why,
            providers=providers,
        )
    except ReviewError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{done.communication_id}: {done.decision} -> {done.status}")
    return 0


def add_review(sub: Any) -> None:
    """``review list`` and ``review resolve ID --sent|--resend|--failed --why ...``."""
    review = sub.add_parser("review", help="communications whose outcome is unknown")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    listing = review_sub.add_parser("list", help="what awaits review, oldest first")
    listing.add_argument("--journey")
    listing.add_argument("--run", help="only this run's (its run id)")
    listing.add_argument("--json", action="store_true")
    resolving = review_sub.add_parser("resolve", help="settle one, with who and why")
    resolving.add_argument("communication_id")
    decision = resolving.add_mutually_exclusive_group(required=True)
    for name, meaning in (
        ("sent", "the server log shows it accepted"),
        ("resend", "it never arrived: send it again, once"),
        ("failed", "it never arrived and must not be sent"),
    ):
        decision.add_argument(
            f"--{name}", dest="decision", action="store_const", const=name, help=meaning
        )
    resolving.add_argument("--why", required=True, help="the evidence (recorded)")
    resolving.add_argument("--by", help="who decides (recorded; default: the system user)")
    resolving.add_argument("--smtp", help="host:port of the SMTP server for --resend "
                           "(default: the Airflow Connection)")  # fmt: skip
    review.set_defaults(handler=_review)
