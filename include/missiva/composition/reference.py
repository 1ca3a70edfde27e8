"""The author's reference, generated from the code: ``missiva templates reference``.

Filters (from the sandbox's :data:`~missiva.composition.sandbox.FILTERS`), the template
context (composer variables, pipeline fields, each journey's extract columns, ``brand.*``,
``t.*``), the :class:`~missiva.journey.Journey` fields (their ``#:`` comments) and the
regulatory registry. ``docs/REFERENCE.md`` is this output; a test fails when they differ.
"""

import ast
import dataclasses
import inspect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from missiva import journey as journey_module
from missiva.composition import library, lint_data
from missiva.composition.engine import COMPOSER_VARIABLES
from missiva.composition.sandbox import FILTERS
from missiva.journey import Journey

COMMAND = "missiva templates reference --out docs/REFERENCE.md"

#: the keys of a block's entry in ``regulatory/registry.json``
REGISTRY_KEYS = {
    "title": "what the clause is, for people (e.g. `Right of withdrawal (14 days)`)",
    "owner": "who owns its wording (e-mail)",
    "version": "the version of the wording; bump it before approving new wording",
    "sha256": "file name -> SHA-256 of every `regulatory/<block>.*` file, as approved",
    "approval": "`{version, approved_by, approved_at}` of the approved version, or null",
    "history": "earlier approvals, each with its `sha256`",
}


class ReferenceError(Exception):
    """The code lacks what the reference must document (e.g. an undocumented field)."""


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_one_line(cell) for cell in row) + " |" for row in rows]


def filter_signature(name: str, function: Callable[..., Any]) -> str:
    """``value | name(arg, ...)`` as a template writes it."""
    params = list(inspect.signature(function).parameters.values())
    if getattr(function, "jinja_pass_arg", None) is not None:
        params = params[1:]  # Jinja's context, passed by Jinja
    args = []
    for param in params[1:]:
        text = param.name if param.default is param.empty else f"{param.name}={param.default!r}"
        args.append(text)
    return f"`value | {name}" + (f"({', '.join(args)})`" if args else "`")


def _filters() -> list[str]:
    rows = [
        (f"`{name}`", filter_signature(name, fn), inspect.getdoc(fn) or "")
        for name, fn in sorted(FILTERS.items())
    ]
    for name, _, doc in rows:
        if not doc:
            raise ReferenceError(f"filter {name} has no docstring")
    return [
        "## Filters",
        "",
        "Missiva's filters, besides Jinja's built-ins (`join`, `upper`, `default`, ...); "
        "each follows the customer's locale.",
        "",
        *_table(("filter", "use", "what it does"), rows),
    ]


def journey_fields() -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) of every :class:`Journey` field, the
    description being the ``#:`` comment above it in ``journey.py``."""
    source = inspect.getsource(journey_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == Journey.__name__]
    found = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comment = []
            row = node.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#:"):
                comment.insert(0, lines[row].strip()[2:].strip())
                row -= 1
            default = ast.get_source_segment(source, node.value) if node.value else ""
            annotation = ast.get_source_segment(source, node.annotation) or ""
            found[node.target.id] = (annotation, default or "", " ".join(comment))
    rows = []
    for field in dataclasses.fields(Journey):
        annotation, default, comment = found[field.name]
        if not comment:
            raise ReferenceError(f"Journey.{field.name} has no #: comment in journey.py")
        rows.append((field.name, annotation, default, comment))
    return rows


def _context(templates_dir: Path, journeys: Iterable[Journey]) -> list[str]:
    out = ["## Template context", ""]
    out += ["### Composer variables (they win over record fields of the same name)", ""]
    out += _table(("variable", "what"), ((f"`{k}`", v) for k, v in COMPOSER_VARIABLES.items()))
    out += ["", "### Fields of every record", ""]
    out += _table(("field", "what"), ((f"`{k}`", v) for k, v in lint_data.PIPELINE_FIELDS.items()))
    out += [
        "",
        "### Record fields by journey",
        "",
        "The columns each journey's extract SQL selects (run on the empty demo schema) and "
        "its `details` lists: a template may use these and no others "
        "(`missiva templates lint` reports any other field its sample has).",
        "",
    ]
    rows = []
    for journey in journeys:
        fields = sorted(lint_data.extract_columns(journey) - set(lint_data.PIPELINE_FIELDS))
        listed = ", ".join(f"`{f}`" for f in fields)
        rows.append((f"`{journey.name}`", ", ".join(journey.communications), listed))
    out += _table(("journey", "communications", "fields"), rows)
    brand = json.loads((templates_dir / "brand.json").read_text(encoding="utf-8"))
    out += ["", "### `brand.*` (`brand.json`)", ""]
    out += _table(
        ("variable", "value"),
        ((f"`brand.{k}`", f"`{json.dumps(v, ensure_ascii=False)}`") for k, v in brand.items()),
    )
    out += ["", "### `t.*`: texts", "", *_messages(templates_dir)]
    return out


def _messages(templates_dir: Path) -> list[str]:
    common = json.loads((templates_dir / "messages.json").read_text(encoding="utf-8"))
    shared = sorted({key for texts in common.values() for key in texts})
    out = [
        "Texts are per language, may use record fields (`{{ first_name }}`) and are escaped "
        "in HTML. Shared by every communication (`messages.json`, "
        f"{', '.join(sorted(common))}): " + ", ".join(f"`t.{k}`" for k in shared) + ".",
        "",
        "A communication's own (`meta.json` `messages`, they win over the shared ones):",
        "",
    ]
    rows = []
    for name in library.communication_names(templates_dir):
        meta = library.snapshot(templates_dir, name).json(library.META_FILE)
        keys = sorted({key for texts in meta.get("messages", {}).values() for key in texts})
        rows.append((f"`{name}`", ", ".join(f"`t.{k}`" for k in keys)))
    return out + _table(("communication", "texts"), rows)


def _journey() -> list[str]:
    rows = [
        (f"`{n}`", f"`{t}`", f"`{d}`" if d else "required", c) for n, t, d, c in journey_fields()
    ]
    return [
        "## `Journey` fields",
        "",
        "A journey module (`include/missiva/journeys/<name>.py`) defines one "
        "`missiva.journey.Journey` at module level; `missiva new-journey NAME` writes one.",
        "",
        *_table(("field", "type", "default", "what"), rows),
    ]


def _regulatory(templates_dir: Path) -> list[str]:
    registry = library.read_registry_json(templates_dir)["blocks"]
    rows = [
        (f"`{name}`", e.get("title", ""), e.get("owner", ""), str(e.get("version", "")))
        for name, e in registry.items()
    ]
    return [
        "## Regulatory blocks",
        "",
        "A locked clause: `regulatory/<block>.html` and its plain-text twin "
        '`<block>.txt`, included with `{% include "regulatory/<block>.html" %}` '
        "(`.txt` in text renditions). Rendering refuses a block whose files do not match "
        "the approved SHA-256 of `regulatory/registry.json`. To add one:",
        "",
        '1. `missiva templates new-block NAME --owner legal@... --title "..."` writes '
        "both files (placeholder wording per language) and the registry entry (version 1, "
        "not approved: lint reports it until step 3);",
        "2. write the wording in both files (`lang`, `brand.*` and record fields are "
        "available) and include the block from the communications' templates;",
        "3. `missiva templates approve-block NAME --by compliance@...` records the hashes; "
        "then bump and approve each communication that includes it.",
        "",
        "New wording later: bump `version` in the registry, then `approve-block` again.",
        "",
        "Registry entry keys:",
        "",
        *_table(("key", "what"), ((f"`{k}`", v) for k, v in REGISTRY_KEYS.items())),
        "",
        "Blocks now:",
        "",
        *_table(("block", "title", "owner", "version"), rows),
    ]


def reference(templates_dir: Path, journeys: Iterable[Journey]) -> str:
    """The whole reference as Markdown."""
    templates_dir = Path(templates_dir)
    journeys = list(journeys)
    parts = [
        "# Author's reference",
        "",
        f"Generated from the code by `{COMMAND}`; a test fails when this file and the "
        "code differ. How to author a journey: README.md, *Authoring a journey*.",
        "",
        *_filters(),
        "",
        *_context(templates_dir, journeys),
        "",
        *_journey(),
        "",
        *_regulatory(templates_dir),
    ]
    return "\n".join(parts) + "\n"
