"""``pkg.module:function`` plug-ins (datasets, models): import them with a clear error."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lrlab.errors import LrlabError, invalid


def load_plugin(target: str, kind: str = "plug-in") -> Callable[..., Any]:
    """Import the function ``target`` names (``pkg.module:function``); ``kind`` labels errors."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise invalid(kind, "'pkg.module:function'", target)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LrlabError(f"{kind} {target!r}: cannot import {module_name!r} ({error}).") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise LrlabError(f"{kind} {target!r}: {module_name!r} has no function {attribute!r}.")
    return function  # type: ignore[no-any-return]
