"""The unit tier stays pure: this conftest fails it when a unit test reaches for something
heavy, instead of letting the tier slowly turn into the component tier.

Why: ``make test-fast`` (``pytest tests/unit``) is the loop developers run on every change
and must stay under 30 s on a laptop with nothing but the venv. WeasyPrint (and with it
Pango/Cairo), Airflow and Great Expectations cost seconds to import and need native
libraries or a metadata DB; subprocesses and servers make tests slow and flaky. Tests that
need any of them belong in tests/component (or tests/integration, tests/e2e).

How:
- ``subprocess.Popen`` and ``multiprocessing``'s ``Process.start`` raise during unit tests,
  so a test that would start a process fails on the spot, with the reason;
- at session finish, if ``weasyprint``, ``airflow`` or ``great_expectations`` is in
  ``sys.modules`` (imported by a test, a fixture or a module under test, even lazily), the
  session fails and names the first test after which each one appeared. This check only
  runs when the session collected unit tests alone (``make test-fast``): in a run of every
  tier the other tiers import those modules legitimately.

Note that ``missiva.composition`` (hence ``missiva.flow`` and ``missiva.delivery.outbox``)
imports WeasyPrint when imported, so tests of those modules are component tests.
"""

from __future__ import annotations

import multiprocessing.process
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN_MODULES = ("weasyprint", "airflow", "great_expectations")

UNIT_DIR = Path(__file__).parent

#: forbidden module -> the test (node id) after which it was first seen in sys.modules
_first_seen: dict[str, str] = {}
_unit_only = False


def _loaded() -> set[str]:
    return {name for name in FORBIDDEN_MODULES if name in sys.modules}


class SubprocessInUnitTest(RuntimeError):
    """A unit test tried to start a process (move the test to tests/component)."""


def _refuse(what: str):
    def refuse(self: object, *args: object, **kwargs: object) -> None:
        command = args[0] if args else kwargs.get("args", kwargs.get("target", ""))
        raise SubprocessInUnitTest(
            f"{what}({command!r}) in a unit test: the unit tier starts no processes "
            "(importing a native library can, e.g. ctypes.util.find_library running "
            "ldconfig for WeasyPrint); move this test to tests/component"
        )

    return refuse


@pytest.fixture(autouse=True)
def _no_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("subprocess.Popen"))
    monkeypatch.setattr(
        multiprocessing.process.BaseProcess, "start", _refuse("multiprocessing start")
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    global _unit_only
    _unit_only = bool(session.items) and all(
        item.path.is_relative_to(UNIT_DIR) for item in session.items
    )
    if not _unit_only:
        return
    for name in _loaded():
        _first_seen.setdefault(name, "collection (a unit test module's imports)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        return (yield)
    finally:
        for name in _loaded() if _unit_only else ():
            _first_seen.setdefault(name, item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _unit_only or not _first_seen:
        return
    lines = [f"  {name}: first loaded by {where}" for name, where in sorted(_first_seen.items())]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "unit tier guard: heavy modules imported", red=True)
        reporter.write_line("move these tests to tests/component:", red=True)
        for line in lines:
            reporter.write_line(line, red=True)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
