"""The schedules package imports without cycles, counting imports inside functions too."""

from __future__ import annotations

import ast
from graphlib import TopologicalSorter
from pathlib import Path

import lrlab.schedules

PACKAGE = Path(lrlab.schedules.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The lrlab.schedules modules ``path`` names in any import statement, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("lrlab.schedules")}


def test_no_module_of_the_schedules_package_imports_itself_back() -> None:
    graph = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}
    assert "lrlab.schedules.compose" not in graph["lrlab.schedules.base"]
    TopologicalSorter(graph).prepare()  # raises CycleError on a cycle
