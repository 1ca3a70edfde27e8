"""The auditor's command line (``missiva audit ...``, ``missiva templates ...``) over a real run.

One module-scoped scenario: ~25 seeded customers go through extract, validate, compose
and deliver (e-mail to a real in-process SMTP server, paper to the print folder) with
``MISSIVA_HOME`` pointing at a temporary folder, so the CLI finds the ledger and the
archive from the environment exactly as an operator's shell would. Composing PDFs is the
slow part, so it happens once.

Tampering never leaks between tests: ledger edits happen on a consistent copy of the
SQLite file, named with ``--ledger``; archived objects are damaged in place and restored
by the test's own fixture, or damaged in a copy of the whole home (the ledger's
references are relative to the archive, so a moved home verifies as it is).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ONBOARDING_RUN

from missiva.cli import main
from missiva.delivery.outbox import deliver_stage
from missiva.delivery.smtp_transport import SmtpSettings
from missiva.devtools.seed import SeedReport
from missiva.flow import canonical_json
from missiva.journeys import ONBOARDING
from missiva.print_stage import print_stage
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.reference import reference_code
from missiva.settings import Settings
from missiva.sources.staging import Staging

DAY = date(2026, 11, 2)
RUN = ONBOARDING_RUN
CHUNK_SIZE = 10
SENDER = "Missiva Assicurazioni <welcome@missiva.example>"
#: variables that would point the CLI somewhere else than the scenario's home
OVERRIDES = (
    "MISSIVA_LEDGER_URL",
    "MISSIVA_ARCHIVE_URL",
    "MISSIVA_PRINT_DIR",
    "MISSIVA_SENDER",
    "MISSIVA_MESSAGE_ID_DOMAIN",
)


@dataclass(frozen=True)
class Scenario:
    home: Path
    settings: Settings
    report: SeedReport
    comms: dict[str, Communication]  # communication_id -> row, after delivery
    records: dict[int, dict[str, Any]]  # row_id -> the staged (extracted) record
    received: int  # messages the SMTP server accepted
    started: datetime
    finished: datetime

    def with_status(self, status: str) -> list[Communication]:
        return [c for c in self.comms.values() if c.status == status]

    def sent(self, channel: str) -> Communication:
        """A sent communication on ``channel`` whose customer has no other communication."""
        customers = [c.customer_id for c in self.comms.values()]
        return next(
            c
            for c in self.with_status("sent")
            if c.channel == channel and customers.count(c.customer_id) == 1
        )

    @property
    def sent_ids(self) -> list[str]:
        return sorted(c.communication_id for c in self.with_status("sent"))


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="module")
def sc(
    tmp_path_factory: pytest.TempPathFactory, smtp_server_factory, composed_run
) -> Iterator[Scenario]:
    home = tmp_path_factory.mktemp("missiva-home")
    with pytest.MonkeyPatch.context() as env, smtp_server_factory() as server:
        env.setenv("MISSIVA_HOME", str(home))
        for name in OVERRIDES:
            env.delenv(name, raising=False)
        settings = Settings.from_env()
        assert settings.home == home.resolve()
        assert settings.sender == SENDER
        smtp = SmtpSettings(server.host, server.port, timeout=10)

        started = datetime.now(UTC)
        day = composed_run(settings, customers=25, joined_on=DAY, run=RUN, chunk_size=CHUNK_SIZE)
        report, chunks = day.report, day.chunks
        for chunk in chunks:
            run = replace(RUN, task_id="deliver")
            deliver_stage(ONBOARDING, run, settings, chunk, lambda: smtp)
        finished = datetime.now(UTC)

        with Ledger(settings.ledger_url) as ledger:
            comms = {c.communication_id: c for c in ledger.communications()}
        _columns, records = Staging(settings.staging_dir, RUN.dag_id, RUN.run_id).read_extract()
        yield Scenario(
            home=settings.home,
            settings=settings,
            report=report,
            comms=comms,
            records={r["row_id"]: r for r in records},
            received=len(server.handler.messages),
            started=started,
            finished=finished,
        )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], sc: Scenario):
    """``cli("audit", "verify")`` runs ``missiva audit verify`` in-process."""

    def run(*argv: Any) -> Result:
        capsys.readouterr()  # forget whatever was printed before
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def object_path(sc: Scenario, uri: str, home: Path | None = None) -> Path:
    """The file behind an archived object's ``archive:`` reference, in the archive of
    ``home`` (the scenario's unless given)."""
    assert uri.startswith("archive:sha256/"), uri
    path = (home or sc.home) / "archive" / uri.removeprefix("archive:")
    assert path.is_file(), uri
    return path


@contextmanager
def damaged(path: Path, *, delete: bool = False) -> Iterator[None]:
    """Append a byte to (or remove) ``path`` for the duration; restore it exactly after."""
    original = path.read_bytes()
    mode = path.stat().st_mode
    try:
        if delete:
            path.unlink()
        else:
            path.chmod(mode | 0o200)
            with path.open("ab") as f:
                f.write(b"\0")
        yield
    finally:
        path.write_bytes(original)
        path.chmod(mode)


def ledger_copy(sc: Scenario, target: Path) -> str:
    """A consistent copy of the (WAL-mode) SQLite ledger; its URL for ``--ledger``."""
    source = sc.settings.ledger_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def home_copy(sc: Scenario, target: Path) -> Path:
    """The scenario's whole ``MISSIVA_HOME`` copied to ``target`` (its ledger consistently)."""
    shutil.copytree(sc.home, target)
    ledger_copy(sc, target / "ledger.db")  # a consistent copy of the WAL-mode file
    for suffix in ("-wal", "-shm"):
        (target / f"ledger.db{suffix}").unlink(missing_ok=True)
    return target


def raw_sql(url: str, sql: str, *params: Any) -> int:
    """Change the ledger behind its back; the number of rows touched."""
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn, conn:
        return conn.execute(sql, params).rowcount


def problem_lines(result: Result) -> list[str]:
    return result.out.splitlines()


# --- the scenario itself --------------------------------------------------------------


def test_the_scenario_exercises_every_outcome(sc: Scenario) -> None:
    statuses = {c.status for c in sc.comms.values()}
    assert statuses == {"sent", "quarantined", "suppressed"}
    assert len(sc.comms) == sc.report.in_interval >= 20
    assert len(sc.with_status("quarantined")) == len(sc.report.defects) > 0
    assert len(sc.with_status("suppressed")) == len(sc.report.suppressions) > 0
    channels = {c.channel for c in sc.with_status("sent")}
    assert channels == {"email", "paper"}
    assert sc.received == sum(c.channel == "email" for c in sc.with_status("sent"))
    assert sc.sent("email") and sc.sent("paper")


# --- verify ---------------------------------------------------------------------------


def test_verify_an_untouched_run_is_intact(sc: Scenario, cli) -> None:
    result = cli("audit", "verify", "--full")
    assert result.code == 0, result
    assert result.err == ""
    assert result.out.startswith(f"verify: intact (full: {len(sc.comms)} communications, ")
    assert "; head anchored at event " in result.out
    again = cli("audit", "verify")  # from the head just anchored: nothing new to re-hash
    assert again.code == 0, again
    assert again.out.startswith("verify: intact (incremental from event ")
    assert ": 0 communications, " in again.out


def test_a_moved_home_verifies_and_serves_its_own_archive(
    sc: Scenario, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MISSIVA_HOME`` copied to another path: verify finds the ledger intact and every
    object in the copy's archive (not the original's: damage in the copy is named)."""
    moved = home_copy(sc, tmp_path / "elsewhere" / "missiva")
    monkeypatch.setenv("MISSIVA_HOME", str(moved))

    result = cli("audit", "verify", "--full")
    assert result.code == 0, result
    assert result.out.startswith(f"verify: intact (full: {len(sc.comms)} communications, ")

    comm = sc.sent("paper")
    object_path(sc, comm.artifact_uri, moved).write_bytes(b"%PDF-1.7 not the letter")
    result = cli("audit", "verify", "--full")
    assert result.code == 1
    assert problem_lines(result) == [
        f"communication {comm.communication_id}: artifact archived object "
        f"{comm.artifact_uri} does not match its sha256"
    ]
    assert object_path(sc, comm.artifact_uri).read_bytes() != b"%PDF-1.7 not the letter"


def test_print_manifests_are_chained_and_verify_names_a_tampered_one(
    sc: Scenario, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day's letters batched (in a copy of the home): the manifest's hash is chained
    when written; verify re-hashes it and the batch PDF it describes, naming either
    when edited."""
    monkeypatch.setenv("MISSIVA_HOME", str(home_copy(sc, tmp_path / "home")))
    settings = Settings.from_env()
    (batch,) = print_stage(ONBOARDING, RUN, settings)
    assert batch["letters"] == len([c for c in sc.with_status("sent") if c.channel == "paper"])
    with Ledger(settings.ledger_url) as ledger:
        (event,) = ledger.events_of(["print_batch"])
    result = cli("audit", "verify", "--full")
    assert result.code == 0, result
    assert ", 1 print manifests, 0 portal indexes; head anchored" in result.out

    (manifest,) = settings.print_dir.rglob("*.manifest.json")
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"sheets": ', b'"sheets": 1', 1))
    result = cli("audit", "verify", "--full")
    assert result.code == 1
    assert problem_lines(result) == [
        f"print manifest {manifest}: differs from the sha256 recorded in event "
        f"{event.event_id} (the manifest was edited or replaced)"
    ]
    manifest.write_bytes(original)
    pdf = manifest.with_name(json.loads(original)["pdf"]["file"])
    pdf.write_bytes(pdf.read_bytes() + b"%")
    result = cli("audit", "verify", "--full")
    assert problem_lines(result) == [f"print batch {pdf}: differs from the sha256 of its manifest"]


def test_verify_names_the_communication_whose_artifact_was_altered(sc: Scenario, cli) -> None:
    comm = sc.sent("email")
    with damaged(object_path(sc, comm.artifact_uri)):
        result = cli("audit", "verify", "--full")
    assert result.code == 1
    assert problem_lines(result) == [
        f"communication {comm.communication_id}: artifact archived object "
        f"{comm.artifact_uri} does not match its sha256"
    ]
    assert result.err.startswith("verify (full: ")
    assert " communications, " in result.err
    assert "): 1 problem(s); first: communication " in result.err
    assert cli("audit", "verify", "--full").code == 0  # restored


def test_verify_detects_a_deleted_input_record(sc: Scenario, cli) -> None:
    comm = sc.with_status("suppressed")[0]  # inputs of unsent records are archived too
    with damaged(object_path(sc, comm.input_uri), delete=True):
        result = cli("audit", "verify", "--full")
    assert result.code == 1
    assert problem_lines(result) == [
        f"communication {comm.communication_id}: input archived object {comm.input_uri} is missing"
    ]
    assert cli("audit", "verify", "--full").code == 0  # restored


def test_verify_detects_a_communication_row_edited_with_sql(
    sc: Scenario, cli, tmp_path: Path
) -> None:
    url = ledger_copy(sc, tmp_path / "ledger.db")
    assert cli("audit", "--ledger", url, "verify").code == 0  # the copy itself is intact
    comm = sc.sent("paper")
    changed = raw_sql(
        url,
        "UPDATE communications SET recipient = ? WHERE communication_id = ?",
        "Via Falsa 1\n00100 Roma",
        comm.communication_id,
    )
    assert changed == 1
    result = cli("audit", "--ledger", url, "verify", "--full")
    assert result.code == 1
    lines = problem_lines(result)
    assert len(lines) == 1, lines
    expected = f"communication {comm.communication_id}: row differs from the digest"
    assert lines[0].startswith(expected)
    assert comm.communication_id in result.err


def test_verify_detects_a_deleted_event(sc: Scenario, cli, tmp_path: Path) -> None:
    url = ledger_copy(sc, tmp_path / "ledger.db")
    comm = sc.sent("email")
    with Ledger(url) as ledger:
        sending = next(e for e in ledger.events(comm.communication_id) if e.kind == "sending")
        following = next(e.event_id for e in ledger.events() if e.event_id > sending.event_id)
    assert raw_sql(url, "DELETE FROM events WHERE event_id = ?", sending.event_id) == 1
    result = cli("audit", "--ledger", url, "verify", "--full")
    assert result.code == 1
    assert problem_lines(result)[0].startswith(f"event {following}: broken hash link")
    assert result.err.startswith("verify (full: ")


def test_verify_names_a_run_cut_off_the_end_of_the_ledger(
    sc: Scenario, cli, tmp_path: Path
) -> None:
    """The newest events and their communications deleted leave a valid chain: the
    anchor written after the run (and after the last verify) names the cut, in the
    incremental check as in the full one."""
    url = ledger_copy(sc, tmp_path / "ledger.db")
    assert cli("audit", "--ledger", url, "verify").code == 0
    newest = sc.sent("email").communication_id
    with Ledger(url) as ledger:
        head = ledger.head()
        cut = [e.event_id for e in ledger.events() if e.communication_id == newest]
    raw_sql(url, "DELETE FROM events WHERE event_id >= ?", min(cut))
    raw_sql(
        url,
        "DELETE FROM communications WHERE communication_id NOT IN "
        "(SELECT communication_id FROM events)",
    )
    with Ledger(url) as ledger:
        assert ledger.verify_chain() == []  # the chain alone cannot tell
    for mode in ((), ("--full",)):
        result = cli("audit", "--ledger", url, "verify", *mode)
        assert result.code == 1, result
        lines = problem_lines(result)
        assert any(
            line.startswith(f"event {head.event_id}: anchored by ")
            and line.endswith("(chain cut off: the newest events were deleted)")
            for line in lines
        ), lines


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("consent_state", '{"purpose":"transactional","do_not_contact":true}'),
        ("sent_at", "2020-01-01 00:00:00.000000"),  # moves it out of `audit clause --since`
        ("input_uri", None),  # and `audit verify` then skips the input object
    ],
)
def test_verify_detects_other_audit_fields_edited_with_sql(
    sc: Scenario, cli, tmp_path: Path, column: str, value: str | None
) -> None:
    url = ledger_copy(sc, tmp_path / "ledger.db")
    comm = sc.sent("email")
    sql = f"UPDATE communications SET {column} = ? WHERE communication_id = ?"
    assert raw_sql(url, sql, value, comm.communication_id) == 1
    result = cli("audit", "--ledger", url, "verify", "--full")
    assert result.code == 1, result
    assert comm.communication_id in result.out


# --- rerender -------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "paper"])
def test_rerender_reproduces_the_archived_bytes(sc: Scenario, cli, channel: str) -> None:
    comm = sc.sent(channel)
    result = cli("audit", "rerender", comm.communication_id)
    assert result.code == 0, result
    assert result.out == f"identical: sha256 {comm.artifact_sha256}\n"


def test_rerender_with_another_sender_shows_the_from_line(
    sc: Scenario, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISSIVA_SENDER", "Someone Else <someone@else.example>")
    other = "Someone Else <welcome@else.example>"  # the communication's own mailbox
    comm = sc.sent("email")
    result = cli("audit", "rerender", comm.communication_id)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == f"DIFFERENT: archived sha256 {comm.artifact_sha256}"
    assert lines[1].split()[:2] == ["re-rendered", "sha256"]
    assert lines[1].split()[2] != comm.artifact_sha256
    assert "-message.eml: From: " + SENDER in lines
    assert "+message.eml: From: " + other in lines
    changed = [
        line for line in lines[2:] if line[:1] in "+-" and not line.startswith(("---", "+++"))
    ]
    assert changed == [
        "-message.eml: From: " + SENDER,
        "-message.eml: Reply-To: clienti@missiva.example",
        "+message.eml: From: " + other,
        "+message.eml: Reply-To: clienti@else.example",
    ]
    # a letter does not carry the e-mail sender: still identical
    assert cli("audit", "rerender", sc.sent("paper").communication_id).code == 0


def test_rerender_an_unknown_id_is_one_error_line(cli) -> None:
    result = cli("audit", "rerender", "00000000-0000-0000-0000-000000000000")
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("missiva: ")
    assert "00000000-0000-0000-0000-000000000000" in lines[0]


def test_rerender_a_quarantined_record_has_nothing_to_compare(sc: Scenario, cli) -> None:
    comm = sc.with_status("quarantined")[0]
    result = cli("audit", "rerender", comm.communication_id)
    assert result.code == 1
    assert result.err.startswith("missiva: ") and "no artifact" in result.err


# --- evidence -------------------------------------------------------------------------


def read_pack(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("manifest.json")), files


@pytest.mark.parametrize("channel", ["email", "paper"])
def test_evidence_pack_of_a_customer(sc: Scenario, cli, tmp_path: Path, channel: str) -> None:
    comm = sc.sent(channel)
    out = tmp_path / "pack.zip"
    result = cli("audit", "evidence", "--customer", comm.customer_id, "--out", out)
    assert result.code == 0, result
    assert str(out) in result.out
    manifest, files = read_pack(out)

    assert manifest["customer_id"] == comm.customer_id
    assert manifest["communications"] == [comm.communication_id]
    assert manifest["files"] == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items()
    }
    folder = comm.communication_id
    artifact = "message.eml" if channel == "email" else "artifact.pdf"
    assert hashlib.sha256(files[f"{folder}/{artifact}"]).hexdigest() == comm.artifact_sha256
    if channel == "email":
        assert files[f"{folder}/attachment-welcome-letter.pdf"].startswith(b"%PDF-")
    else:
        assert files[f"{folder}/artifact.pdf"].startswith(b"%PDF-")
        assert f"{folder}/message.eml" not in files

    record = sc.records[comm.source_row_id]
    assert files[f"{folder}/input.json"] == canonical_json(record)
    assert hashlib.sha256(files[f"{folder}/input.json"]).hexdigest() == comm.data_sha256

    communication = json.loads(files[f"{folder}/communication.json"])
    assert communication["communication_id"] == comm.communication_id
    assert communication["status"] == "sent"
    assert [e["kind"] for e in communication["events"]] == ["composed", "sending", "sent"]
    consent = communication["consent_state"]
    assert consent == comm.consent
    assert consent["purpose"] == "transactional"
    assert consent["preferred_channel"] == record["preferred_channel"]
    assert consent[f"consent_{channel}_transactional"]


def test_evidence_pack_of_a_quarantined_record_has_no_artifact(
    sc: Scenario, cli, tmp_path: Path
) -> None:
    comm = sc.with_status("quarantined")[0]
    out = tmp_path / "pack.zip"
    assert cli("audit", "evidence", "--customer", comm.customer_id, "--out", out).code == 0
    manifest, files = read_pack(out)
    ids = sorted(c.communication_id for c in sc.comms.values() if c.customer_id == comm.customer_id)
    assert sorted(manifest["communications"]) == ids
    mine = {name.split("/", 1)[1] for name in files if name.startswith(comm.communication_id)}
    assert mine == {"communication.json", "input.json"}


def test_evidence_for_an_unknown_customer_fails(cli, tmp_path: Path) -> None:
    out = tmp_path / "pack.zip"
    result = cli("audit", "evidence", "--customer", "C999999", "--out", out)
    assert result.code == 1
    assert result.err.startswith("missiva: ") and "C999999" in result.err
    assert not out.exists()


# --- clause, trace, show, list --------------------------------------------------------


def ids(result: Result) -> list[str]:
    assert result.code == 0, result
    return sorted(row["communication_id"] for row in result.json())


def run_days(sc: Scenario) -> tuple[str, str]:
    """--since/--until dates that cover the run (whatever time of day it happened)."""
    return sc.started.date().isoformat(), (sc.finished.date() + timedelta(days=1)).isoformat()


def test_clause_lists_exactly_the_sent_communications(sc: Scenario, cli) -> None:
    since, until = run_days(sc)
    result = cli(
        "audit", "clause", "privacy_notice", "--version", "1", "--since", since, "--until", until,
        "--json",
    )  # fmt: skip
    assert ids(result) == sc.sent_ids
    assert len(sc.sent_ids) == (
        sc.report.in_interval - len(sc.report.defects) - len(sc.report.suppressions)
    )
    for row in result.json():
        comm = sc.comms[row["communication_id"]]
        assert (row["customer_id"], row["channel"], row["recipient"]) == (
            comm.customer_id,
            comm.channel,
            comm.recipient,
        )
    assert cli("audit", "clause", "privacy_notice", "--json").json() == result.json()


def test_clause_with_another_version_or_period_is_empty(sc: Scenario, cli) -> None:
    since, until = run_days(sc)
    other_version = ["--version", "2", "--since", since, "--until", until]
    assert ids(cli("audit", "clause", "privacy_notice", *other_version, "--json")) == []
    before = ["--since", "2020-01-01", "--until", sc.started.date().isoformat()]
    assert ids(cli("audit", "clause", "privacy_notice", "--version", "1", *before, "--json")) == []
    assert ids(cli("audit", "clause", "no_such_clause", "--json")) == []


def test_trace_by_clause_template_and_period(sc: Scenario, cli) -> None:
    assert ids(cli("audit", "trace", "--clause", "privacy_notice", "--json")) == sc.sent_ids
    assert ids(cli("audit", "trace", "--template", "welcome", "--json")) == sc.sent_ids
    since, until = run_days(sc)
    during = cli("audit", "trace", "--since", since, "--until", until, "--json")
    assert ids(during) == sorted(sc.comms)  # every status
    created = [row["created_at"] for row in during.json()]
    assert created == sorted(created)  # oldest first
    before = ["--since", "2020-01-01", "--until", sc.started.date().isoformat()]
    assert ids(cli("audit", "trace", *before, "--json")) == []
    old = ["--template", "welcome", "--until", "2020-01-01", "--json"]
    assert ids(cli("audit", "trace", *old)) == []


def test_trace_by_customer(sc: Scenario, cli) -> None:
    comm = sc.sent("paper")
    assert ids(cli("audit", "trace", "--customer", comm.customer_id, "--json")) == [
        comm.communication_id
    ]
    quarantined = sc.with_status("quarantined")[0]
    both = ["--customer", quarantined.customer_id, "--template", "welcome", "--json"]
    assert quarantined.communication_id not in ids(cli("audit", "trace", *both))


def test_trace_by_the_reference_a_customer_reads_out(sc: Scenario, cli) -> None:
    comm = sc.sent("paper")
    code = reference_code(comm.communication_id)
    assert comm.reference == code
    spoken = code.lower().replace("-", " ").replace("0", "o")  # as heard on the phone
    assert ids(cli("audit", "trace", "--reference", spoken, "--json")) == [comm.communication_id]
    mistyped = code[:-1] + ("1" if code[-1] != "1" else "2")  # the check character says no
    assert ids(cli("audit", "trace", "--reference", mistyped, "--json")) == []


def test_trace_without_a_filter_is_refused(cli) -> None:
    result = cli("audit", "trace")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("missiva: give at least one of --customer")
    assert len(result.err.splitlines()) == 1


def test_show_has_the_events_in_order(sc: Scenario, cli) -> None:
    comm = sc.sent("email")
    result = cli("audit", "show", comm.communication_id)
    assert result.code == 0, result
    shown = result.json()
    assert shown["communication_id"] == comm.communication_id
    assert shown["status"] == "sent" and shown["channel"] == "email"
    events = shown["events"]
    assert [e["kind"] for e in events] == ["composed", "sending", "sent"]
    assert [e["event_id"] for e in events] == sorted(e["event_id"] for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert all(len(e["detail"]["row_digest"]) == 64 for e in events)
    assert events[-1]["detail"]["provider_message_id"] == comm.provider_message_id
    assert shown["blocks"]["privacy_notice"] == "1"
    assert shown["consent_state"] == comm.consent
    approvals = sc.settings.templates_dir / "communications" / comm.template / "approvals.json"
    approval = next(
        a for a in json.loads(approvals.read_text()) if a["version"] == comm.template_version
    )
    assert shown["template_approval"] == {
        "approved_by": approval["approved_by"],
        "approved_at": approval["approved_at"],
        "sha256": approval["sha256"],
        "report_sha256": None,  # the shipped versions were approved without a diff report
    }
    assert cli("audit", "show", comm.communication_id, "--json").json() == shown


def test_show_a_quarantined_record(sc: Scenario, cli) -> None:
    comm = sc.with_status("quarantined")[0]
    shown = cli("audit", "show", comm.communication_id).json()
    assert [e["kind"] for e in shown["events"]] == ["quarantined"]
    assert shown["blocks"] == {} and shown["reason"] == comm.reason
    assert shown["template_approval"] is None, "composed from no template"


def test_list_has_every_communication(sc: Scenario, cli) -> None:
    assert ids(cli("audit", "list", "--json")) == sorted(sc.comms)
    assert len(cli("audit", "list", "--limit", "3", "--json").json()) == 3
    text = cli("audit", "list")
    assert text.code == 0 and len(text.out.splitlines()) == len(sc.comms)


# --- templates ------------------------------------------------------------------------


def test_templates_lint_is_clean(cli) -> None:
    result = cli("templates", "lint")
    assert result.code == 0, result
    assert result.out.strip() == "lint: 0 problem(s), 0 warning(s)"
    assert result.err == ""


def test_the_home_is_untouched_by_the_tests(sc: Scenario, cli) -> None:
    """Runs last: whatever the tamper tests did was undone."""
    result = cli("audit", "verify", "--full")
    assert result.code == 0, result
    assert f"(full: {len(sc.comms)} communications" in result.out


def test_a_ledger_that_does_not_exist_is_not_created(cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ledger.db"
    result = cli("audit", "--ledger", f"sqlite:///{missing}", "list", "--json")
    assert result.code == 1 and not missing.exists()
    assert result.err.startswith(f"missiva: no ledger at {missing} ")


def test_a_negative_limit_is_refused(cli) -> None:
    with pytest.raises(SystemExit) as caught:
        cli("audit", "list", "--limit", "-1")
    assert caught.value.code == 2
