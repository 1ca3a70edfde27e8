"""The Makefile is the one place for the demo environment: `make env` prints it for a
shell, one variable moves each port, and moving the UI port moves the api-server, the
address workers call back (execution API) and the banner of `make airflow` together."""

import os
import subprocess

from support import REPO

#: the test session's own Airflow and Missiva settings must not leak into make's
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MISSIVA"))}


def _bash(script: str, **make_vars: str) -> subprocess.CompletedProcess:
    """``script`` in bash after ``eval "$(make -s env VAR=value...)"``."""
    assignments = " ".join(f"{k}={v}" for k, v in make_vars.items())
    return subprocess.run(
        [
            "bash",
            "-c",
            f'set -euo pipefail; eval "$(make -s -C {REPO} env {assignments})"; {script}',
        ],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=60,
        check=False,
    )


def _exported(**make_vars: str) -> dict[str, str]:
    names = [
        "AIRFLOW__API__PORT",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW_CONN_SMTP_DEFAULT",
        "AIRFLOW_CONN_MISSIVA_SMS",
        "MISSIVA_CONTACT_POLICY",
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS",
        "AIRFLOW__LOGGING__LOGGING_LEVEL",
        "MISSIVA_HOME",
        "AIRFLOW_HOME",
    ]
    result = _bash(" ".join(f'echo "{n}=${{{n}}}";' for n in names), **make_vars)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def test_env_defaults_are_the_demo_environment():
    env = _exported()
    assert env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8080/execution/"
    assert env["MISSIVA_CONTACT_POLICY"] == str(REPO / "include/contact_policy_no_quiet_hours.toml")
    assert env["MISSIVA_HOME"] == str(REPO / "var")
    assert env["AIRFLOW_HOME"] == str(REPO / "var/airflow")
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO"  # Missiva's loggers reach the log
    assert "airflow=WARNING" in env["AIRFLOW__LOGGING__NAMESPACE_LEVELS"]


def test_one_variable_moves_each_port():
    env = _exported(UI_PORT="9191", SMTP_PORT="9125", SMS_PORT="9126")
    assert env["AIRFLOW__API__PORT"] == "9191"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:9191/execution/"
    assert '"port": 9125' in env["AIRFLOW_CONN_SMTP_DEFAULT"]
    assert '"port": 9126' in env["AIRFLOW_CONN_MISSIVA_SMS"]


def test_the_banner_shows_the_ui_port():
    result = _bash(f"source {REPO}/scripts/common.sh; airflow_banner", UI_PORT="9191")
    assert result.returncode == 0, result.stderr
    assert "== Airflow on http://localhost:9191" in result.stdout
    assert "8080" not in result.stdout


def test_a_quoted_home_survives_the_shell(tmp_path):
    home = tmp_path / "it's a home"
    assert _exported(MISSIVA_HOME=f'"{home}"')["AIRFLOW_HOME"] == f"{home}/airflow"


def test_make_run_without_a_journey_says_how():
    result = subprocess.run(
        ["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", "run"],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "usage: make run JOURNEY=<dag id>" in result.stderr
