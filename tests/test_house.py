"""The house rules a reviewer would otherwise check by hand: no import cycles, short modules, one
atomic writer. They scan the source, so a new cycle or a second writer fails here first."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 300
LONG_ALLOWED = {"lrlab.schedules.families"}  # the catalogue: one family after another
OWN_REPLACE = {"lrlab.data.download"}  # a download renames its verified file itself


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """The lrlab modules ``name`` imports anywhere in its body (function-local imports too;
    ``TYPE_CHECKING`` blocks too, which keeps the type layer acyclic as well)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            found = [module for module in submodules if module in MODULES]
            yield from found
            if len(found) < len(submodules) and base in MODULES:
                yield base


def _graph() -> dict[str, set[str]]:
    return {name: set(_imported(name, path)) - {name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scanner_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_lrlab() -> None:
    assert len(MODULES) > 50
    assert _cycles(_graph()) == []


def test_modules_are_short() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_ALLOWED, f"modules over {MAX_LINES} lines: {long}"


def test_one_atomic_writer() -> None:
    callers = sorted(
        name
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr == "replace"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )
    assert [name for name in callers if name not in OWN_REPLACE] == ["lrlab.record"]
