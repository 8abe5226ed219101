"""``pkg.module:function(key=value, …)`` plug-ins (tasks, datasets, models): import them from the
working directory, the experiment file's folder or the installed packages, call them with their
options, and fingerprint their source.

An experiment file that names a plug-in runs its code: trust it as you would a script.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from lrlab.errors import LrlabError, invalid

PLUGIN = re.compile(r"(?P<module>[A-Za-z_][\w.]*):(?P<function>[A-Za-z_]\w*)(?P<args>\(.*\))?", re.DOTALL)
_EXTRA_DIRS: list[str] = []  # folders added by add_import_dir, searched before sys.path
_STAMPS: dict[str, tuple[int, int]] = {}  # module name → its file's (mtime, size) when imported


def is_plugin(spec: str) -> bool:
    """Whether ``spec`` names a plug-in (``pkg.module:function…``) rather than a built-in."""
    return PLUGIN.fullmatch(spec.strip()) is not None


def add_import_dir(folder: str | Path | None) -> None:
    """Make plug-in modules in ``folder`` importable (an experiment file's folder)."""
    if folder is None:
        return
    path = str(Path(folder).expanduser().resolve())
    if path not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(path)
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)  # the latest experiment's folder wins over earlier ones


def _searched() -> list[str]:
    return [*_EXTRA_DIRS, os.getcwd()]


def import_plugin_module(name: str, kind: str, target: str) -> ModuleType:
    """Import ``name`` from the working directory, the added folders or sys.path."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)  # the console script's sys.path lacks it
    _forget_if_moved(name)
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        where = ", ".join(dict.fromkeys(_searched()))
        raise LrlabError(
            f"{kind} {target!r}: cannot import {name!r} ({error}); looked in {where} and the installed "
            "packages. Put the module there, or set task.plugin_dir to its folder."
        ) from None
    return _fresh(module)


def _forget_if_moved(name: str) -> None:
    """Drop an imported top-level plug-in module when ``sys.path`` now finds another file of that
    name (a second experiment folder with its own ``task.py``)."""
    top = name.partition(".")[0]
    module = sys.modules.get(top)
    if module is None or getattr(module, "__file__", None) is None:
        return
    spec = importlib.machinery.PathFinder.find_spec(top, sys.path)
    if spec is not None and spec.origin is not None and spec.origin != module.__file__:
        for loaded in [key for key in sys.modules if key == top or key.startswith(top + ".")]:
            del sys.modules[loaded]
            _STAMPS.pop(loaded, None)


def _fresh(module: ModuleType) -> ModuleType:
    """``module``, reloaded when its file changed since it was imported (an edited plug-in)."""
    file = getattr(module, "__file__", None)
    if file is None or not os.path.exists(file):
        return module
    stat = os.stat(file)
    stamp = (stat.st_mtime_ns, stat.st_size)
    if _STAMPS.setdefault(module.__name__, stamp) != stamp:
        _STAMPS[module.__name__] = stamp
        return importlib.reload(module)
    return module


def load_plugin(target: str, kind: str = "plug-in") -> Callable[..., Any]:
    """Import the function ``target`` names (``pkg.module:function``); ``kind`` labels errors."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise invalid(kind, "'pkg.module:function'", target)
    module = import_plugin_module(module_name, kind, target)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise LrlabError(f"{kind} {target!r}: {module_name!r} has no function {attribute!r}.")
    return function  # type: ignore[no-any-return]


def parse_plugin(spec: str, kind: str) -> tuple[str, dict[str, Any]]:
    """``pkg.module:function(key=value, …)`` → (``pkg.module:function``, options)."""
    from lrlab.spec import Chain, parse_expression

    match = PLUGIN.fullmatch(spec.strip())
    if match is None:
        raise invalid(kind, "'pkg.module:function' or 'pkg.module:function(key=value, …)'", spec)
    target = f"{match['module']}:{match['function']}"
    if not match["args"]:
        return target, {}
    expression = parse_expression(match["function"] + match["args"])
    if isinstance(expression, Chain) or expression.args:
        raise LrlabError(f"{kind} options are keyword-only: write function(key=value), got {spec!r}.")
    return target, dict(expression.kwargs)


def call_plugin(spec: str, kind: str, given: Mapping[str, Any] | None = None) -> Any:
    """Call the plug-in ``spec`` with its options, plus those of ``given`` that it declares (or
    all of them when it takes ``**kwargs``). An exception inside it becomes an
    :class:`LrlabError` that keeps its message (the traceback is its cause)."""
    target, options = parse_plugin(spec, kind)
    function = load_plugin(target, kind)
    arguments = {**_accepted(function, dict(given or {})), **options}
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError as error:
        raise LrlabError(f"{kind} {spec!r}: {error}.") from None
    except ValueError:  # a built-in without a signature: let the call decide
        pass
    try:
        return function(**arguments)
    except LrlabError:
        raise
    except Exception as error:
        raise LrlabError(f"{kind} {spec!r} raised {type(error).__name__}: {error}") from error


def _accepted(function: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    try:
        parameters = inspect.signature(function).parameters
    except ValueError:
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return given
    return {key: value for key, value in given.items() if key in parameters}


def source_digest(spec: str, kind: str) -> str:
    """SHA-256 (16 hex digits) of the source file of the plug-in's module: a changed plug-in
    gives a new digest, so its old runs are not taken for new ones."""
    target, _ = parse_plugin(spec, kind)
    module = import_plugin_module(target.partition(":")[0], kind, target)
    file = getattr(module, "__file__", None)
    if file is None:
        return "no-source"
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]
