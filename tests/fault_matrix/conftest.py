"""The fault matrix's day of onboarding and its table.

The day (24 customers joining on 2026-11-02, some moved to SMS) is composed once per
ledger (SQLite; Postgres) and set aside; each case gets it back at the same paths (the
ledger holds the artifacts' absolute URIs) and, on Postgres, in a database of its own
made from the composed one as a template. At the end the matrix is printed, and written
to ``docs/fault-matrix.md`` when every case ran.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from fault_checks import CASES, table
from fault_runs import RUN
from fault_servers import FaultySms, FaultySmtp
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine
from support import ADMIN_URL, REPO, compose_run, move_to_sms, settings_for

from missiva.settings import Settings

TABLE_FILE = REPO / "docs" / "fault-matrix.md"
OUTCOMES: dict[str, str] = {}


def compose_day(settings: Settings) -> int:
    """Seed the core systems and compose the day; the number of records extracted."""
    from missiva.devtools.seed import seed

    seed(settings.core_db, customers=24, seed=5, joined_on=date(2026, 11, 2))
    move_to_sms(settings.core_db)
    composed = compose_run(settings, run=RUN)
    assert composed.chunks == [0]
    return composed.extracted


@dataclass
class Day:
    """A composed day set aside in ``saved``; :meth:`restore` puts it back in ``home``."""

    settings: Settings
    saved: Path
    template_db: str | None = None
    admin: Engine | None = None

    def restore(self) -> Settings:
        shutil.rmtree(self.settings.home, ignore_errors=True)
        shutil.copytree(self.saved, self.settings.home)
        if self.template_db is None:
            return self.settings
        name = f"{self.template_db}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_db}"'))
        return replace(self.settings, ledger_url=_database_url(name))


def _database_url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _set_aside(settings: Settings, root: Path) -> Path:
    saved = root / "saved"
    shutil.copytree(settings.home, saved)
    return saved


@pytest.fixture(scope="session")
def sqlite_day(tmp_path_factory) -> Day:
    """The day on a SQLite ledger."""
    root = tmp_path_factory.mktemp("fault-day-sqlite")
    settings = settings_for(root / "home")
    compose_day(settings)
    return Day(settings, _set_aside(settings, root))


@pytest.fixture(scope="session")
def postgres_day(tmp_path_factory, pg_admin: Engine) -> Iterator[Day]:
    """The day on a Postgres ledger; every database made from it is dropped at the end."""
    root = tmp_path_factory.mktemp("fault-day-postgres")
    template = f"missiva_faults_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    try:
        settings = replace(settings_for(root / "home"), ledger_url=_database_url(template))
        compose_day(settings)
        with pg_admin.connect() as conn:  # a template must have no session open
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": template},
            )
        yield Day(settings, _set_aside(settings, root), template, pg_admin)
    finally:
        with pg_admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{template}%"},
            ).scalars()
            for name in list(names):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def smtp() -> Iterator[FaultySmtp]:
    server = FaultySmtp().start()
    yield server
    server.stop()


@pytest.fixture
def sms() -> Iterator[FaultySms]:
    server = FaultySms().start()
    yield server
    server.stop()


def _case(item: pytest.Item) -> str:
    return item.name.removeprefix("test_").replace("_", "-")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    case = _case(item)
    if case in CASES and (report.when == "call" or report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome = "xfail" if report.skipped else "XPASS"
        else:
            outcome = {"passed": "pass", "failed": "FAIL", "skipped": "skipped"}[report.outcome]
        OUTCOMES.setdefault(case, outcome)
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if not OUTCOMES:
        return
    matrix = table(OUTCOMES)
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write_line(matrix)
    if set(OUTCOMES) == set(CASES):
        TABLE_FILE.write_text("<!-- written by `pytest tests/fault_matrix` -->\n\n" + matrix + "\n")
        terminalreporter.write_line(f"(written to {TABLE_FILE.relative_to(REPO)})")
