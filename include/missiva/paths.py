"""Where Missiva finds its assets and keeps its state.

Assets (templates, SQL, expectation suites) live in the repository's ``include/``.
State (ledger, artifact store, print folder, demo core-systems DB) lives under
``MISSIVA_HOME`` (default: ``var/`` in the repository root), so the CLI run from
the repository finds the demo's ledger without flags.
"""

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
TEMPLATES_DIR = INCLUDE_DIR / "templates"
SQL_DIR = INCLUDE_DIR / "sql"
EXPECTATIONS_DIR = INCLUDE_DIR / "expectations"


def safe_name(text: str) -> str:
    """``text`` as a file name: anything but letters, digits, ``.``, ``_`` and ``-``
    becomes ``_`` (a run id has ``:`` and ``+``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def missiva_home() -> Path:
    """The state directory, from ``MISSIVA_HOME`` or ``<repo>/var``."""
    return Path(os.environ.get("MISSIVA_HOME", PROJECT_ROOT / "var")).resolve()
