"""The core stages end to end, without Airflow: a seeded core DB, a real SMTP server.

One module-scoped scenario runs the stages the way a DAG run (with retries and a
re-run) would, and records what it saw at each step; the tests check those records.
Rendering PDFs is the slow part, so the scenario composes every communication once.

1. extract, validate (chunks of 8), compose every chunk;
2. deliver chunk 0 while the SMTP server is down (a closed port)   -> letters go out,
   e-mails are held back, raises;
3. deliver chunk 0 to a server that takes one message, then 451s   -> raises;
4. deliver every chunk to the working server (the retry);
5. re-run validate, compose and deliver for every chunk             -> nothing new.
"""

from __future__ import annotations

import email
import hashlib
import json
import sqlite3
from collections import Counter
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support import ONBOARDING_RUN, settings_for

from missiva.channels.base import TransientFailure
from missiva.delivery.holds import DeliveryHeld
from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import SeedReport
from missiva.flow import compose_stage, extract_stage, validate_stage
from missiva.journeys import ONBOARDING
from missiva.privacy.sealing import sealed
from missiva.records.ledger import Ledger
from missiva.records.run_report import AccountingError, summarize
from missiva.records.store import LocalArtifactStore
from missiva.settings import Settings
from missiva.sources.staging import Staging

RUN = ONBOARDING_RUN
CHUNK_SIZE = 8


def statuses(ledger: Ledger) -> dict[str, str]:
    """communication_id -> status, for the whole ledger."""
    return {c.communication_id: c.status for c in ledger.communications()}


def file_count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


@dataclass
class Scenario:
    report: SeedReport
    settings: Settings
    ledger: Ledger
    server: Any
    extracted: int = 0
    chunks: list[int] = field(default_factory=list)
    composed: list[dict] = field(default_factory=list)
    chunk0_ids: set[str] = field(default_factory=set)
    after_compose: dict[str, str] = field(default_factory=dict)
    down_error: BaseException | None = None
    after_down: dict[str, str] = field(default_factory=dict)
    received_after_down: int = 0
    flaky_error: BaseException | None = None
    after_flaky: dict[str, str] = field(default_factory=dict)
    received_after_flaky: int = 0
    delivered: list[dict] = field(default_factory=list)
    before_rerun: dict[str, int] = field(default_factory=dict)
    rerun_chunks: list[int] = field(default_factory=list)
    recomposed: list[dict] = field(default_factory=list)
    redelivered: list[dict] = field(default_factory=list)
    after_rerun: dict[str, int] = field(default_factory=dict)


def snapshot(sc: Scenario) -> dict[str, int]:
    return {
        "ledger_rows": sc.ledger.count(),
        "events": len(sc.ledger.events()),
        "messages": len(sc.server.handler.messages),
        "archived": file_count(sc.settings.home / "archive"),
        "printed": file_count(sc.settings.print_dir),
    }


@pytest.fixture(scope="module")
def sc(tmp_path_factory, smtp_server_factory, closed_port_factory, composed_run) -> Scenario:
    settings = settings_for(tmp_path_factory.mktemp("missiva"))
    # 1. seed, extract, validate, compose
    day = composed_run(settings, customers=30, run=RUN, chunk_size=CHUNK_SIZE)
    report = day.report
    with ExitStack() as stack:
        server = stack.enter_context(smtp_server_factory())
        down_port = stack.enter_context(closed_port_factory())
        up = SmtpSettings(server.host, server.port, timeout=10)
        down = SmtpSettings("127.0.0.1", down_port, timeout=5)
        sc = Scenario(report, settings, Ledger(settings.ledger_url), server)

        def deliver(chunk: int, smtp: SmtpSettings, try_number: int) -> dict:
            run = replace(RUN, task_id="deliver", try_number=try_number)
            return deliver_stage(ONBOARDING, run, settings, chunk, lambda: smtp)

        sc.extracted, sc.chunks, sc.composed = day.extracted, day.chunks, day.composed
        sc.after_compose = statuses(sc.ledger)
        chunk0 = Staging(settings.staging_dir, RUN.dag_id, RUN.run_id).read_chunk(0)
        sc.chunk0_ids = {
            c.communication_id
            for c in sc.ledger.communications()
            if c.source_row_id in {r["row_id"] for r in chunk0}
        }
        # 2. the SMTP server is down
        try:
            deliver(0, down, try_number=1)
        except Exception as exc:
            sc.down_error = exc
        sc.after_down = statuses(sc.ledger)
        sc.received_after_down = len(server.handler.messages)
        # 3. the server takes one message, then fails temporarily
        server.handler.fail_data_after = 1
        try:
            deliver(0, up, try_number=2)
        except Exception as exc:
            sc.flaky_error = exc
        sc.after_flaky = statuses(sc.ledger)
        sc.received_after_flaky = len(server.handler.messages)
        server.handler.fail_data_after = None
        # 4. the retry
        sc.delivered = [deliver(c, up, try_number=3) for c in sc.chunks]
        # 5. a re-run of the same DAG run
        sc.before_rerun = snapshot(sc)
        rerun = replace(RUN, try_number=4)
        sc.rerun_chunks = validate_stage(ONBOARDING, rerun, settings, CHUNK_SIZE)
        sc.recomposed = [compose_stage(ONBOARDING, rerun, settings, c) for c in sc.chunks]
        sc.redelivered = [deliver(c, up, try_number=4) for c in sc.chunks]
        sc.after_rerun = snapshot(sc)
        yield sc


@pytest.fixture(scope="module")
def extracted_records(sc: Scenario) -> list[dict]:
    _columns, records = Staging(sc.settings.staging_dir, RUN.dag_id, RUN.run_id).read_extract()
    return records


@pytest.fixture(scope="module")
def received(sc: Scenario) -> dict[str, bytes]:
    """communication_id -> the DATA bytes the SMTP server received (one per id)."""
    out: dict[str, bytes] = {}
    for message in sc.server.handler.messages:
        parsed = email.message_from_bytes(message.content, policy=default)
        comm_id = parsed["X-Missiva-Communication-Id"]
        assert comm_id not in out, f"{comm_id} was received twice"
        out[comm_id] = message.content
    return out


def test_the_seeded_interval_exercises_every_path(sc: Scenario) -> None:
    assert sc.extracted == sc.report.in_interval
    assert len(sc.chunks) >= 2
    assert sc.report.defects and sc.report.suppressions
    chunk0 = [c for c in sc.ledger.communications() if c.communication_id in sc.chunk0_ids]
    assert sum(c.channel == "email" for c in chunk0) >= 2  # for the mid-chunk failure


def test_every_record_ends_sent_suppressed_or_quarantined(
    sc: Scenario, extracted_records: list[dict]
) -> None:
    comms = sc.ledger.for_scope("onboarding", "2026-11-02")
    by_row = {c.source_row_id: c for c in comms}
    assert len(by_row) == len(comms) == len(extracted_records) == sc.report.in_interval
    assert set(by_row) == {r["row_id"] for r in extracted_records}
    for row_id, comm in by_row.items():
        if row_id in sc.report.defects:
            assert comm.status == "quarantined", (row_id, sc.report.defects[row_id])
            assert comm.reason.startswith("expect_")
        elif row_id in sc.report.suppressions:
            assert comm.status == "suppressed", (row_id, sc.report.suppressions[row_id])
            assert comm.reason
        else:
            assert comm.status == "sent", (row_id, comm.status, comm.reason)
            assert comm.channel in ("email", "paper")
            assert comm.provider_message_id
            assert comm.sent_at is not None
            assert comm.template == "welcome" and comm.template_version
            assert comm.task_id == "deliver"
            # chunk 0's letters while SMTP was down, its flaky attempt, or the retry
            assert comm.try_number in ((1, 2, 3) if comm.channel == "paper" else (2, 3))


def test_summary_adds_up(sc: Scenario) -> None:
    summary = summarize(sc.ledger, RUN.dag_id, RUN.run_id)
    comms = sc.ledger.for_scope("onboarding", "2026-11-02")
    assert summary.extracted == sc.report.in_interval
    assert summary.accounted == summary.extracted
    assert summary.statuses == Counter(c.status for c in comms)
    assert set(summary.statuses) == {"sent", "suppressed", "quarantined"}
    assert summary.statuses["quarantined"] == len(sc.report.defects)
    assert summary.statuses["suppressed"] == len(sc.report.suppressions)
    assert summary.sent_by_channel == Counter(c.channel for c in comms if c.status == "sent")
    assert sum(summary.sent_by_channel.values()) == summary.statuses["sent"]
    assert sum(summary.reasons["quarantined"].values()) == len(sc.report.defects)
    assert f"records extracted: {sc.report.in_interval}" in "\n".join(summary.lines())


def test_one_email_per_email_routed_customer(sc: Scenario, received: dict[str, bytes]) -> None:
    emailed = {c.communication_id: c for c in sc.ledger.communications() if c.channel == "email"}
    assert emailed and all(c.status == "sent" for c in emailed.values())
    assert received.keys() == emailed.keys()
    rcpts = Counter(r for m in sc.server.handler.messages for r in m.rcpt_tos)
    assert rcpts == Counter(c.recipient for c in emailed.values())
    assert set(rcpts.values()) == {1}
    for comm_id, raw in received.items():
        parsed = email.message_from_bytes(raw, policy=default)
        assert parsed["Message-ID"] == f"<{comm_id}@missiva.example>"
        assert parsed["To"].addresses[0].addr_spec == emailed[comm_id].recipient
        assert emailed[comm_id].provider_message_id.startswith("OK queued as Q")


def test_paper_letters_land_in_the_print_folder(sc: Scenario) -> None:
    folder = sc.settings.print_dir / "onboarding" / "2026-11-02"
    paper = [c for c in sc.ledger.communications() if c.channel == "paper"]
    assert paper and all(c.status == "sent" for c in paper)
    assert {p.name for p in folder.iterdir()} == {
        f"{c.communication_id}.{ext}" for c in paper for ext in ("pdf", "json")
    }
    for comm in paper:
        address = json.loads((folder / f"{comm.communication_id}.json").read_text())
        assert address == {"address": comm.recipient.split("\n")}


def test_delivered_bytes_are_the_archived_bytes(sc: Scenario, received: dict[str, bytes]) -> None:
    """The ledger's SHA-256 is the hash of exactly what the customer got.

    No line-ending normalisation is needed: build_email emits CRLF wire format, smtplib
    only dot-stuffs bytes (it fixes line endings of ``str`` messages only) and the server
    un-stuffs them, so the DATA content equals the archived bytes exactly.
    """
    store = sealed(LocalArtifactStore(sc.settings.home / "archive"), sc.ledger)
    folder = sc.settings.print_dir / "onboarding" / "2026-11-02"
    sent = [c for c in sc.ledger.communications() if c.status == "sent"]
    for comm in sent:
        archived = store.get(comm.artifact_uri, comm.artifact_sha256)
        if comm.channel == "email":
            delivered = received[comm.communication_id]
            attachment = next(
                email.message_from_bytes(delivered, policy=default).iter_attachments()
            )
            assert attachment.get_content().startswith(b"%PDF-")
        else:
            delivered = (folder / f"{comm.communication_id}.pdf").read_bytes()
            assert delivered.startswith(b"%PDF-")
        assert hashlib.sha256(delivered).hexdigest() == comm.artifact_sha256
        assert delivered == archived


def test_smtp_down_holds_back_only_the_emails(sc: Scenario) -> None:
    assert isinstance(sc.down_error, DeliveryHeld)
    assert isinstance(sc.down_error.__cause__, TransientFailure)
    assert isinstance(sc.down_error.__cause__.__cause__, ConnectionRefusedError)
    assert "email:" in str(sc.down_error) and "held back" in str(sc.down_error)
    assert sc.received_after_down == 0
    comms = {c.communication_id: c for c in sc.ledger.communications()}
    chunk0 = {i: s for i, s in sc.after_down.items() if i in sc.chunk0_ids}
    by_channel = {
        ch: {chunk0[i] for i in chunk0 if comms[i].channel == ch} for ch in ("email", "paper")
    }
    assert by_channel == {"email": {"composed"}, "paper": {"sent"}}
    others = {i: s for i, s in sc.after_down.items() if i not in sc.chunk0_ids}
    assert others == {i: s for i, s in sc.after_compose.items() if i not in sc.chunk0_ids}


def test_failure_mid_chunk_leaves_the_rest_composed(sc: Scenario) -> None:
    assert isinstance(sc.flaky_error, TransientFailure)
    assert "451" in str(sc.flaky_error)
    assert sc.flaky_error.status == 451
    assert sc.received_after_flaky == 1
    emailed = {c.communication_id for c in sc.ledger.communications() if c.channel == "email"}
    chunk0_emails = sc.chunk0_ids & emailed
    after = Counter(sc.after_flaky[i] for i in chunk0_emails)
    # one e-mail went out; the one that failed and the rest wait for the retry
    assert after == Counter({"sent": 1, "composed": len(chunk0_emails) - 1})
    assert "sending" not in sc.after_flaky.values()
    # nothing outside chunk 0 was touched
    others = {i: s for i, s in sc.after_flaky.items() if i not in sc.chunk0_ids}
    assert others == {i: s for i, s in sc.after_compose.items() if i not in sc.chunk0_ids}


def test_the_retry_delivered_everything(sc: Scenario) -> None:
    final = Counter()
    for counts in sc.delivered:
        assert set(counts) <= {"sent", "suppressed"}
        final.update(counts)
    assert final["sent"] == sum(s == "sent" for s in statuses(sc.ledger).values())


def test_rerun_sends_nothing_new_and_adds_no_rows(sc: Scenario) -> None:
    assert sc.rerun_chunks == sc.chunks
    for chunk, counts in zip(sc.chunks, sc.recomposed, strict=True):
        original = sc.composed[chunk]
        assert counts == {"already_recorded": sum(original.values())}
    assert sc.redelivered == sc.delivered
    assert sc.after_rerun == sc.before_rerun


def test_first_compose_recorded_every_valid_record(sc: Scenario) -> None:
    counts = Counter()
    for c in sc.composed:
        counts.update(c)
    assert counts["already_recorded"] == 0
    valid = sc.report.in_interval - len(sc.report.defects)
    assert counts["composed"] + counts["suppressed"] == valid


def test_event_chain_of_the_run_is_intact(sc: Scenario) -> None:
    events = sc.ledger.events()
    prev = "0" * 64
    for event in events:
        assert event.prev_hash == prev
        prev = event.hash
    kinds = Counter(e.kind for e in events)
    assert kinds["sent"] == sum(s == "sent" for s in statuses(sc.ledger).values())
    # e-mail delivered after the flaky attempt: composed -> sending -> composed -> sending
    assert kinds["sending"] > kinds["sent"]


def test_a_day_nobody_joined_runs_clean(sc: Scenario, tmp_path: Path) -> None:
    """An empty interval is not a data-quality failure: nothing to send, all accounted for."""
    settings = replace(
        sc.settings,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        staging_dir=tmp_path / "staging",
    )
    day = datetime(2030, 1, 1, tzinfo=UTC)
    run = replace(RUN, run_id="manual__2030-01-01", interval_start=day)
    run = replace(run, interval_end=day + timedelta(days=1))
    assert extract_stage(ONBOARDING, run, settings, f"sqlite:///{sc.report.db_path}") == 0
    assert validate_stage(ONBOARDING, run, settings, CHUNK_SIZE) == []
    summary = summarize(Ledger(settings.ledger_url), run.dag_id, run.run_id)
    assert (summary.extracted, summary.accounted) == (0, 0)


def copy_ledger(sc: Scenario, target: Path) -> Ledger:
    """A consistent copy of the (WAL-mode) SQLite ledger."""
    source = sc.settings.ledger_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return Ledger(f"sqlite:///{target}")


def test_summarize_raises_when_a_ledger_row_is_deleted(sc: Scenario, tmp_path: Path) -> None:
    copy = copy_ledger(sc, tmp_path / "ledger.db")
    assert summarize(copy, RUN.dag_id, RUN.run_id).accounted == sc.report.in_interval
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn, conn:
        conn.execute(
            "DELETE FROM communications WHERE communication_id = "
            "(SELECT communication_id FROM communications WHERE status = 'sent' LIMIT 1)"
        )
    with pytest.raises(AccountingError, match=f"{sc.report.in_interval} records extracted"):
        summarize(copy, RUN.dag_id, RUN.run_id)


def test_summarize_raises_for_an_unknown_run(sc: Scenario) -> None:
    with pytest.raises(AccountingError, match="no run"):
        summarize(sc.ledger, RUN.dag_id, "manual__never")
