"""A new journey authored and run from the README alone, in a copy of the repository:
scaffold it, use a new field in its e-mail, `templates lint` names the field the extract
SQL does not produce, add it to the SQL and the suite, approve, `make run`, read the mail;
a second `make run` of the interval reports nothing new. The report is in the task log
although Airflow's own logging stays at WARNING."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, free_port, mail_by_recipient

pytestmark = pytest.mark.e2e
NAME = "loyalty_bonus"
BIN = Path(sys.executable).parent


def _copy_of_repo(root: Path) -> Path:
    for part in ("dags", "include", "plugins", "scripts"):
        shutil.copytree(
            REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    shutil.copy(REPO / "Makefile", root / "Makefile")
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def repo(tmp_path):
    """A scaffolded copy of the repository and the environment its commands run in."""
    root = _copy_of_repo(tmp_path / "repo")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MISSIVA"))}
    env = clean | {"PYTHONPATH": str(root / "include"), "MISSIVA_HOME": str(tmp_path / "home")}
    return root, env


def _missiva(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "missiva"), *args], capture_output=True, text=True, env=env, check=False
    )


def _make_run(root: Path, env: dict, ports: dict[str, int]) -> subprocess.CompletedProcess:
    make = ["make", "-s", "-C", str(root), "-o", ".venv/.installed", "run"]
    ports_args = [f"{name}={port}" for name, port in ports.items()]
    return subprocess.run(
        [*make, f"JOURNEY={NAME}", "DATE=2026-11-03", *ports_args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


def test_author_lint_and_make_run_a_new_journey(repo):
    root, env = repo
    home = Path(env["MISSIVA_HOME"])
    assert _missiva(env, "new-journey", NAME, "--root", str(root)).returncode == 0
    folder = root / "include/templates/communications" / NAME
    _edit(folder / "email.txt", "{{ t.online }}", "{{ t.online }}\n\nHome country: {{ home }}")
    samples = json.loads((folder / "sample.json").read_text())
    for records in samples.values():
        for record in records:
            record["home"] = record["country"]
    (folder / "sample.json").write_text(json.dumps(samples, indent=2))

    lint = _missiva(env, "templates", "lint", NAME)
    assert lint.returncode == 1, lint
    assert (
        f"{NAME} [en/email_text]: field 'home' is not produced by journey {NAME}'s extract "
        f"(include/sql/{NAME}_extract.sql)" in lint.stderr
    )
    assert f"warning: {NAME}: draft: edited after version 0.1.0 was approved" in lint.stderr

    _edit(
        root / f"include/sql/{NAME}_extract.sql",
        "    e.occurred_at,",
        "    e.occurred_at,\n    c.country AS home,",
    )
    _edit(root / f"include/expectations/{NAME}.json", '"occurred_at", ', '"occurred_at", "home", ')
    _edit(folder / "meta.json", '"version": "0.1.0"', '"version": "0.2.0"')
    approved = _missiva(env, "templates", "approve", NAME, "--version", "0.2.0", "--by", "qa@x")
    assert approved.returncode == 0, approved.stderr
    lint = _missiva(env, "templates", "lint", NAME)
    assert (lint.returncode, lint.stdout.strip()) == (0, "lint: 0 problem(s), 0 warning(s)")

    seeded = _missiva(env, "seed", "--customers", "30", "--db", str(home / "core.db"))
    assert seeded.returncode == 0, seeded.stderr
    ports = {"SMTP_PORT": free_port(), "SMS_PORT": free_port(), "UI_PORT": free_port()}
    first = _make_run(root, env, ports)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"of {NAME}, data interval [2026-11-02 00:00, 2026-11-03 00:00) UTC" in first.stdout
    mail = mail_by_recipient(home / "mail")
    assert mail, first.stdout
    bodies = [m.get_body(("plain",)).get_content() for msgs in mail.values() for m in msgs]
    assert all("Home country: IT" in b or "Home country: GB" in b for b in bodies)
    sent = re.search(r"  sent by this run: (\d+) \(email: (\d+)", first.stdout)
    assert sent and int(sent[2]) == len(bodies), first.stdout
    task_log = (home / f"{NAME}-2026-11-03.log").read_text()
    assert "records extracted: " in task_log, "the report task logs at INFO under WARNING"

    again = _make_run(root, env, ports)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "  sent by this run: 0" in again.stdout
    extracted = re.search(r"  records extracted: (\d+)", again.stdout)
    assert extracted, again.stdout
    earlier = f"  already handled by an earlier run: {extracted[1]} (not sent again)"
    assert earlier in again.stdout
    assert sum(len(m) for m in mail_by_recipient(home / "mail").values()) == len(bodies)
