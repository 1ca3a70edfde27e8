"""``missiva bench``: the benchmarks' command line (composition, delivery, a whole journey)."""

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from missiva.settings import Settings


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run the benchmark asked for; its figures as JSON on stdout."""
    if args.bench_command == "compose":
        from missiva.devtools.bench import bench_compose

        result = bench_compose(seconds=args.seconds)
    elif args.bench_command == "journey":
        from missiva.devtools.bench_journey import bench_journey

        _exit_on_sigterm()
        result = bench_journey(
            args.customers,
            executor=args.executor,
            cores=args.cores,
            root=args.root,
            timeout=args.timeout,
            sample=args.sample,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    else:
        from missiva.devtools.bench_deliver import bench_deliver

        result = bench_deliver(messages=args.messages)
    print(json.dumps(result, indent=2))
    return 0


def _exit_on_sigterm() -> None:
    """A terminated benchmark stops what it started, as Ctrl-C does (its cluster's
    processes, databases and Redis keys), instead of leaving them running."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def add_bench(sub: Any) -> None:
    """``bench``: composition, delivery and whole-journey speed."""
    bench = sub.add_parser("bench", help="measure composition, delivery and journey speed")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    compose = bench_sub.add_parser("compose", help="PDF letters/s, layout ceiling, e-mails/s")
    compose.add_argument("--seconds", type=float, default=10.0)
    deliver = bench_sub.add_parser("deliver", help="SMTP messages/s with connection reuse")
    deliver.add_argument("--messages", type=int, default=2000)
    journey = bench_sub.add_parser(
        "journey", help="onboarding for N customers through the scheduler: CPU, memory, stages"
    )
    journey.add_argument("--customers", type=int, required=True)
    journey.add_argument("--executor", choices=("local", "celery"), default="local")
    journey.add_argument("--cores", type=int, help="pin the whole run to this many cores")
    journey.add_argument("--root", type=Path, help="its folder (default: a temporary one)")
    journey.add_argument("--timeout", type=float, default=3600.0, help="for the run, seconds")
    journey.add_argument("--sample", type=int, default=100, help="communications re-rendered")
    for p in (compose, deliver, journey):
        p.add_argument("--json", action="store_true", help="JSON output (the only format)")
    bench.set_defaults(handler=_bench)
