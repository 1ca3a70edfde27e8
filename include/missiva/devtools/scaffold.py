"""``missiva new-journey NAME``: every file of a new journey, runnable on the demo data.

The files come from ``include/scaffold/`` with the markers ``%journey%`` (the name),
``%JOURNEY%`` (the module constant) and ``%Title%`` replaced; the journey's demo table
(``schema.sql``) is appended to ``include/sql/core_schema.sql`` and its seeder goes to
``missiva/devtools/seeders/``, so that ``missiva seed`` fills it. The new communication is
approved at once (after lint), so that production runs render it.
"""

import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from missiva.paths import PROJECT_ROOT

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME_LENGTH = 40
SCAFFOLD_VERSION = "0.1.0"  # the version in include/scaffold/communication/meta.json


class ScaffoldError(ValueError):
    """The name is not usable, or a journey of that name already exists."""


@dataclass(frozen=True)
class Scaffold:
    """The files of journey ``name`` under ``root`` (a repository checkout)."""

    name: str
    root: Path

    @property
    def templates_dir(self) -> Path:
        return self.root / "include" / "templates"

    @property
    def communication_dir(self) -> Path:
        return self.templates_dir / "communications" / self.name

    @property
    def source(self) -> Path:
        return self.root / "include" / "scaffold"

    @property
    def core_schema(self) -> Path:
        return self.root / "include" / "sql" / "core_schema.sql"

    @property
    def table(self) -> str:
        """The demo table the journey's extract reads and its seeder fills."""
        return f"{self.name}_events"

    def targets(self) -> dict[Path, Path]:
        """Scaffold source file -> where it goes."""
        source = self.source
        package = self.root / "include" / "missiva"
        files = {
            source / "extract.sql": self.root / "include" / "sql" / f"{self.name}_extract.sql",
            source / "suite.json": self.root / "include" / "expectations" / f"{self.name}.json",
            source / "journey.py.tmpl": package / "journeys" / f"{self.name}.py",
            source / "seeder.py.tmpl": package / "devtools" / "seeders" / f"{self.name}.py",
            source / "dag.py.tmpl": self.root / "dags" / f"{self.name}.py",
        }
        for template in sorted((source / "communication").iterdir()):
            files[template] = self.communication_dir / template.name
        return files

    def render(self, text: str) -> str:
        title = self.name.replace("_", " ").capitalize()
        return (
            text.replace("%journey%", self.name)
            .replace("%JOURNEY%", self.name.upper())
            .replace("%Title%", title)
        )


def check_name(name: str) -> str:
    """``name`` if it can be a journey, DAG id, module and communication name."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(
            f"invalid journey name {name!r}: use snake_case (lower-case letters, digits and "
            f"single underscores, starting with a letter, at most {MAX_NAME_LENGTH} characters)"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"invalid journey name {name!r}: a Python keyword")
    return name


def new_journey(name: str, *, root: Path = PROJECT_ROOT, by: str = "scaffold") -> list[Path]:
    """Write journey ``name``'s files under ``root`` and approve its communication; the
    files created. Refuses, writing nothing, when any of them exists already."""
    scaffold = Scaffold(check_name(name), Path(root))
    targets = scaffold.targets()
    existing = [t for t in (*targets.values(), scaffold.communication_dir) if t.exists()]
    schema = scaffold.core_schema.read_text(encoding="utf-8")
    if f"CREATE TABLE {scaffold.table} " in schema:
        existing.append(scaffold.core_schema)
    if existing:
        listed = ", ".join(str(p.relative_to(scaffold.root)) for p in existing[:3])
        raise ScaffoldError(f"journey {name!r} exists already ({listed})")
    from missiva.composition import approve

    try:
        for source, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            text = scaffold.render(source.read_text(encoding="utf-8"))
            target.write_text(text, encoding="utf-8")
        table = scaffold.render((scaffold.source / "schema.sql").read_text(encoding="utf-8"))
        scaffold.core_schema.write_text(schema + table, encoding="utf-8")
        approve(scaffold.templates_dir, name, SCAFFOLD_VERSION, by)
    except Exception:
        for target in targets.values():
            target.unlink(missing_ok=True)
        shutil.rmtree(scaffold.communication_dir, ignore_errors=True)
        scaffold.core_schema.write_text(schema, encoding="utf-8")
        raise
    return [*targets.values(), scaffold.communication_dir / "approvals.json"]


def next_steps(name: str) -> str:
    """How to look at, change and run the new journey."""
    return f"""
Next steps:
  missiva preview {name} --sample --out /tmp/{name}-preview
  edit include/sql/{name}_extract.sql, include/expectations/{name}.json and the templates,
  and the demo data: table {name}_events (include/sql/core_schema.sql) and its seeder
  include/missiva/devtools/seeders/{name}.py; `missiva seed` (or `make demo`) writes it;
  bump meta.json's version, `missiva templates lint`, then
  `missiva templates approve {name} --version V --by WHO`
  make run JOURNEY={name} DATE=2026-11-03    (the demo's environment, sinks and report)
  in a test: support.run_dag("{name}") with the journey_env fixture"""
