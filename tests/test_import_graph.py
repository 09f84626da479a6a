"""No import circle in ``ivr/``: the package's modules import each other in one direction only.

The graph is read from the source with :mod:`ast`, not by importing it. Every import counts:
those at module level, those inside functions (a function-level import is the usual way to hide a
circle from Python, not to remove it) and those under ``if TYPE_CHECKING:`` (a circle for the type
checker is still a circle for a reader). ``from package import name`` is an edge to
``package.name`` when that is a module, and to ``package`` otherwise.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ivr"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that the module ``name`` (at ``path``) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    return {m for m in found if m in known and m != name}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(paths)
    return {name: imports_of(name, path, known) for name, path in paths.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_circle_in_ivr() -> None:
    graph = import_graph()
    assert len(graph) > 100, "the scan found too few modules: is PACKAGE right?"
    assert circles(graph) == []


def test_the_check_finds_a_circle(tmp_path: Path) -> None:
    """The check itself can fail: a function-level import closing a loop is reported."""
    pkg = tmp_path / "ivr"
    (pkg / "part").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "part" / "__init__.py").write_text("")
    (pkg / "part" / "a.py").write_text("from ivr.part import b\n")
    (pkg / "part" / "b.py").write_text("def f() -> None:\n    from . import c\n")
    (pkg / "part" / "c.py").write_text("from .a import something\n")
    (pkg / "part" / "d.py").write_text("from ivr.part.c import thing\n")
    assert circles(import_graph(pkg)) == [["ivr.part.a", "ivr.part.b", "ivr.part.c"]]
