"""A day at scale on a real Postgres ledger, without Airflow: 100,000 extracted records
validated (the quarantined ones recorded with their reasons) and a 5,000-record chunk
delivered. The records are the demo seeder's (its hostile ones included), its valid ones
copied under new row and customer ids up to the volume: seeding 100,000 customers takes
minutes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support import ONBOARDING_RUN

from missiva.records.ledger import Ledger
from missiva.settings import Settings

RECORDS = 100_000
CHUNK = 5_000


def settings_for(tmp_path: Path, ledger_url: str) -> Settings:
    return Settings(
        home=tmp_path,
        ledger_url=ledger_url,
        core_db=tmp_path / "core.db",
        archive_url=(tmp_path / "archive").as_uri(),
        staging_dir=tmp_path / "staging",
        print_dir=tmp_path / "print",
        sender="Missiva <welcome@missiva.example>",
        message_id_domain="missiva.example",
    )


def copies(records: list[dict], total: int, first: int = 1) -> list[dict]:
    """``total`` records cycling through ``records``, each under a new row id (from
    ``first``) and customer id."""
    out = []
    for n in range(total):
        record = records[n % len(records)]
        customer = f"{record['customer_id']}-{n // len(records)}"
        out.append({**record, "row_id": first + n, "customer_id": customer})
    return out


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the archive, staging and print folder live: in memory when the machine has
    ``/dev/shm`` (each archived file is fsynced; tens of thousands of them on a disk take
    minutes on a busy machine, and the disk is not what these tests measure)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="missiva-volume-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def staged(pg_url: str, state_dir: Path) -> tuple[Settings, list[dict], set[int]]:
    """The demo's extract for 2026-11-02 (about 270 records, a few hostile), then copies
    of its valid records up to :data:`RECORDS`, staged as the run's extract; the settings,
    the valid records and the row ids that must be quarantined."""
    from missiva.devtools.seed import seed
    from missiva.flow import extract_stage, staging
    from missiva.journeys import ONBOARDING
    from missiva.sources.validation import validate

    settings = settings_for(state_dir, pg_url)
    seed(settings.core_db, customers=300, seed=42)
    extract_stage(ONBOARDING, ONBOARDING_RUN, settings, f"sqlite:///{settings.core_db}")
    staged = staging(ONBOARDING_RUN, settings)
    columns, base = staged.read_extract()
    outcome = validate(base, ONBOARDING.suite)
    assert 0 < len(outcome.quarantined) < len(base)
    after = max(int(r["row_id"]) for r in base) + 1
    records = base + copies(outcome.valid, RECORDS - len(base), first=after)
    staged.write_extract_parts([(columns, records)])
    return settings, outcome.valid, set(outcome.quarantined)


def test_a_100000_record_validate_quarantines_each_bad_record_with_its_reason(
    staged: tuple[Settings, list[dict], set[int]],
) -> None:
    from missiva.flow import staging, validate_stage
    from missiva.journeys import ONBOARDING
    from missiva.records.keys import business_key

    settings, _, bad_rows = staged
    run = replace(ONBOARDING_RUN, task_id="validate")

    chunks = validate_stage(ONBOARDING, run, settings, CHUNK)

    valid = sum(len(staging(run, settings).read_chunk(c)) for c in chunks)
    with Ledger(settings.ledger_url) as ledger:
        rows = ledger.for_scope(ONBOARDING.name, business_key(ONBOARDING, run))
        head = ledger.head()
    assert {c.source_row_id for c in rows} == bad_rows
    assert {c.status for c in rows} == {"quarantined"} and all(c.reason for c in rows)
    assert any("duplicate customer id" in c.reason for c in rows)
    assert valid + len(bad_rows) == RECORDS  # every record accounted for
    assert len(chunks) == -(-valid // CHUNK)
    assert head is not None and head.events == len(bad_rows)  # one chained event each


def test_a_5000_record_chunk_is_delivered_each_communication_once(
    staged: tuple[Settings, list[dict], set[int]],
) -> None:
    """The chunk's letters are recorded ``composed`` as the compose stage records them
    (:meth:`Ledger.add_many`) but not rendered (5,000 PDFs take minutes; rendering is
    covered by the component tests): each archived "PDF" is a distinct placeholder. The
    paper channel then drops every one in the print folder, on the Postgres ledger and
    contact policy."""
    from datetime import UTC, datetime

    from missiva.channels.paper import paper_contact
    from missiva.delivery.outbox import deliver_stage
    from missiva.flow import _base_fields, staging
    from missiva.journeys import ONBOARDING
    from missiva.privacy.sealing import sealed
    from missiva.records.keys import idempotency_key
    from missiva.records.store import open_store

    settings, valid, _ = staged
    run = replace(ONBOARDING_RUN, task_id="compose")
    printable = [
        {**r, "preferred_channel": "paper", "consent_paper_transactional": 1, "do_not_contact": 0}
        for r in valid
        if paper_contact(r)[0]
    ]
    records = copies(printable, CHUNK)
    staged_run = staging(run, settings)
    assert staged_run.write_chunks(records, CHUNK) == [0]
    store = open_store(settings.archive_url)
    with Ledger(settings.ledger_url) as ledger:
        sealing = sealed(store, ledger)
        for part in range(0, CHUNK, 500):
            rows = []
            for record in records[part : part + 500]:
                key = idempotency_key(ONBOARDING, run, record)
                fields = _base_fields(ONBOARDING, run, record, key, sealing)
                letter = sealing.put(
                    f"%PDF-1.7 letter {key}".encode(),
                    content_type="application/pdf",
                    owner=record["customer_id"],
                )
                rows.append(
                    {
                        **fields,
                        "status": "composed",
                        "channel": "paper",
                        "recipient": paper_contact(record)[0],
                        "artifact_uri": letter.uri,
                        "artifact_sha256": letter.sha256,
                    }
                )
            assert ledger.add_many(rows) == len(rows)

    noon = datetime(2026, 11, 3, 12, tzinfo=UTC)
    counts = deliver_stage(
        ONBOARDING, replace(run, task_id="deliver"), settings, 0, store=store, now=noon
    )

    with Ledger(settings.ledger_url) as ledger:
        keys = [idempotency_key(ONBOARDING, run, r) for r in records]
        sent = ledger.by_keys(keys)
        problems = ledger.verify_chain()
    assert counts.get("sent") == CHUNK, counts
    assert {c.status for c in sent.values()} == {"sent"} and len(sent) == CHUNK
    dropped = list((settings.print_dir).rglob("*.pdf"))
    assert len(dropped) == CHUNK
    assert problems == []
