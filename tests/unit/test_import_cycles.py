"""No import cycles between the modules of the missiva package.

The graph is built from the source with ``ast``, from module-level imports only
(``if TYPE_CHECKING:`` blocks and imports inside functions are lazy, so they are left
out). An edge ``A -> B`` is drawn for:

- ``import missiva.x.y`` and ``from missiva.x import y`` where ``y`` is a submodule:
  ``A -> missiva.x.y``;
- ``from missiva.x import name`` where ``name`` is not a submodule (a re-export):
  ``A -> missiva.x``, the package ``__init__`` that binds it;
- package ``__init__`` modules count: importing ``missiva.x.y`` from outside the
  package ``missiva.x`` first runs ``missiva/x/__init__.py``, so ``A`` also depends on
  every package above ``B`` that does not contain ``A`` (inside its own package the
  ``__init__`` is already running, so no edge is drawn).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "include" / "missiva"
ROOT = "missiva"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = (ROOT, *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not in functions, not for type checkers."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            pending.extend(node.body)
    return found


def _imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The missiva modules ``module`` imports (directly named or re-exported by a package)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != module}


def _with_packages(module: str, target: str) -> set[str]:
    """``target`` and the packages above it whose ``__init__`` importing it runs."""
    found = {target}
    parts = target.split(".")
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        if module != package and not module.startswith(package + "."):
            found.add(package)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for target in _imported(module, path, modules):
            edges |= _with_packages(module, target)
        graph[module] = edges - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that starts and ends with the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "missiva.composition" in graph
    assert "missiva.composition.errors" in graph["missiva.composition"]
    assert "missiva.records.ledger" in graph["missiva.delivery.outbox"]


def test_find_cycle_names_the_modules() -> None:
    graph = {"missiva.a": {"missiva.b"}, "missiva.b": {"missiva.a"}, "missiva.c": set()}
    assert " -> ".join(find_cycle(graph) or []) == "missiva.a -> missiva.b -> missiva.a"
    assert find_cycle({"missiva.a": {"missiva.b"}, "missiva.b": set()}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = []
    while cycle := find_cycle(graph):  # report them all: drop one edge of each and go on
        cycles.append(" -> ".join(cycle))
        graph[cycle[-2]].discard(cycle[-1])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
