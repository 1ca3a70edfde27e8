"""``missiva privacy``: erase a customer, legal holds, master key rotation, retention purge."""

import argparse
import os
from datetime import UTC, datetime
from typing import Any

from missiva.settings import Settings

NEW_KEY_ENV = "MISSIVA_NEW_MASTER_KEY"


def _privacy(args: argparse.Namespace, settings: Settings) -> int:
    from missiva.privacy import erase, holds
    from missiva.privacy.master_key import ENV_VAR, MasterKeyMissing
    from missiva.privacy.sealing import sealed
    from missiva.records.ledger import Ledger
    from missiva.records.store import open_store

    with Ledger(args.ledger or settings.ledger_url) as ledger:
        command = args.privacy_command
        if command == "erase":
            store = sealed(open_store(settings.archive_url), ledger)
            done = erase.erase(ledger, store, args.customer, args.by, args.reason)
            print(
                f"erased customer {done.customer_id} on {done.erased_at} by {done.by}: "
                f"{done.keys_destroyed} key(s) destroyed, {done.communications} "
                f"communication(s) pseudonymised, {done.suppressed} pending suppressed"
            )
        elif command == "hold":
            holds.place(ledger, args.customer, args.by, args.reason)
            print(f"legal hold on customer {args.customer}: {args.reason}")
        elif command == "release":
            released = holds.release(ledger, args.customer)
            print(f"legal hold on {args.customer} {'released' if released else 'not found'}")
        elif command == "rotate-master-key":
            from missiva.privacy.keys import rotate_master_key

            old, new = os.environ.get(ENV_VAR), os.environ.get(NEW_KEY_ENV)
            if not old or not new:
                raise MasterKeyMissing(f"set {ENV_VAR} (current) and {NEW_KEY_ENV} (new)")
            count = rotate_master_key(ledger, old, new)
            print(f"{count} data key(s) re-wrapped; now set {ENV_VAR} to the new key")
        else:
            from missiva.privacy.retention import purge

            store = sealed(open_store(settings.archive_url), ledger)
            now = args.now or datetime.now(UTC)
            result = purge(ledger, store, settings.retention, now, dry_run=args.dry_run)
            print("\n".join(result.lines()))
    return 0


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_privacy(sub: Any) -> None:
    """``privacy``: crypto-shredding erasure, legal holds, master key, retention."""
    privacy = sub.add_parser("privacy", help="erase customers, legal holds, keys, retention")
    privacy.add_argument("--ledger", help="SQLAlchemy URL (default: the demo ledger)")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    erase = privacy_sub.add_parser(
        "erase", help="destroy a customer's key, pseudonymise their ledger rows"
    )
    hold = privacy_sub.add_parser("hold", help="place a legal hold (erasure is refused)")
    for p in (erase, hold):
        p.add_argument("--customer", required=True)
        p.add_argument("--by", required=True, help="who asked for it")
        p.add_argument("--reason", required=True)
    release = privacy_sub.add_parser("release", help="release a legal hold")
    release.add_argument("--customer", required=True)
    privacy_sub.add_parser(
        "rotate-master-key",
        help=f"re-wrap every data key: current key in MISSIVA_MASTER_KEY, new in {NEW_KEY_ENV}",
    )
    purge = privacy_sub.add_parser(
        "purge", help="remove what outlived its retention (destroy keys where the store cannot)"
    )
    purge.add_argument("--dry-run", action="store_true", help="list, change nothing")
    purge.add_argument("--now", type=_moment, help="ISO datetime to purge as of (default: now)")
    privacy.set_defaults(handler=_privacy)
