"""How much an incremental ``audit verify`` saves over a full one, on a seeded ledger.

``python -m missiva.devtools.bench_verify --communications 20000 --new 200 --json``
seeds a fresh SQLite ledger and local archive (three chained events per communication,
written through the real chain code; input records from a pool of :data:`INPUTS`
archived objects, since an fsync per object would make seeding, not verifying, the
slow part; every communication's input is still re-read and re-hashed), verifies it
fully (which anchors the head), adds ``--new`` communications as a later run would, then
times a full and an incremental verify of the result.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from missiva.records.audit import verify
from missiva.records.chain import append_event
from missiva.records.ledger import Ledger
from missiva.records.models import Communication, utc_now
from missiva.records.store import LocalArtifactStore

#: distinct archived input records the seeded communications share
INPUTS = 100


def _seed(ledger: Ledger, store: LocalArtifactStore, first: int, count: int) -> None:
    """``count`` sent communications from number ``first`` on, in one transaction."""
    with ledger._write() as session:
        for n in range(first, first + count):
            archived = store.put(json.dumps({"customer": n % INPUTS}).encode())
            now = utc_now()
            comm = Communication(
                communication_id=f"00000000-0000-0000-0000-{n:012d}",
                idempotency_key=f"bench/verify/C{n:08d}",
                journey="onboarding",
                communication="welcome",
                business_key="2026-11-02",
                customer_id=f"C{n:08d}",
                channel="email",
                recipient=f"c{n}@example.com",
                input_uri=archived.uri,
                data_sha256=archived.sha256,
                status="composed",
                dag_id="bench",
                run_id="bench",
                task_id="compose",
                try_number=1,
                created_at=now,
                updated_at=now,
            )
            session.add(comm)
            session.flush()
            for status in ("composed", "sending", "sent"):
                comm.status = status
                session.flush()
                append_event(session, ledger.key, comm.communication_id, status)


def _timed(ledger: Ledger, store: LocalArtifactStore, *, full: bool) -> tuple[float, Any]:
    started = time.perf_counter()
    result = verify(ledger, store, full=full)
    return time.perf_counter() - started, result


def run(communications: int, new: int, folder: Path) -> dict[str, Any]:
    store = LocalArtifactStore(folder / "archive")
    with Ledger(f"sqlite:///{folder / 'ledger.db'}") as ledger:
        _seed(ledger, store, 1, communications)
        verify(ledger, store, full=True, by="bench")  # anchors the head as verified
        _seed(ledger, store, communications + 1, new)
        full_s, full = _timed(ledger, store, full=True)
        incremental_s, incremental = _timed(ledger, store, full=False)
    assert not full.problems and not incremental.problems, full.problems + incremental.problems
    return {
        "communications": communications + new,
        "new_since_last_verify": new,
        "full_s": round(full_s, 3),
        "full_checked": full.communications,
        "incremental_s": round(incremental_s, 3),
        "incremental_checked": incremental.communications,
        "speedup": round(full_s / incremental_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communications", type=int, default=20_000)
    parser.add_argument("--new", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="missiva-bench-verify-") as folder:
        figures = run(args.communications, args.new, Path(folder))
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['communications']} communications, {args.new} new since the last "
            f"verify: full {figures['full_s']} s, incremental {figures['incremental_s']} s "
            f"({figures['speedup']}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
