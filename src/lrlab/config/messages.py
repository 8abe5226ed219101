"""A pydantic :class:`ValidationError` of an experiment as one line that names the key.

``train.batch_size must be an integer >= 1, got train.batch_size=0.``; ``unknown key
'train.epoch'; did you mean 'epochs'? Valid keys of [train]: …``. Values given as flags are
named by their flag (``--epochs``) instead of their key path.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from lrlab.errors import invalid

_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


class Constraint(ValueError):
    """Raised by a validator: the message is the constraint a value breaks ("an integer >= 1")."""


def one_line(error: ValidationError, root: type[BaseModel], flags: Mapping[str, str]) -> str:
    """The first problem of ``error`` (raised validating ``root``) in one line, and how many more;
    ``flags`` names key paths by the flag that set them."""
    first = error.errors()[0]
    loc, kind, value = first["loc"], first["type"], first["input"]
    more = error.error_count() - 1
    tail = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    if kind == "extra_forbidden":
        return _unknown_key(root, loc) + tail
    path = _path(loc)
    shown = flags.get(path, path)
    if kind == "missing":
        return f"{shown} is required{tail}."
    if kind == "value_error":
        cause = first.get("ctx", {}).get("error")
        if not isinstance(cause, Constraint):
            return f"{shown}: {cause}{tail}" if shown else f"{cause}{tail}"
        return str(invalid(shown, str(cause), value)) + tail
    constraint = _constraint(kind, first.get("ctx", {}), _field(root, loc))
    return str(invalid(shown, constraint, value)) + tail


def _path(loc: tuple[int | str, ...]) -> str:
    """``('variant', 2, 'name')`` → ``variant[2].name``."""
    return "".join(f"[{p!r}]" if isinstance(p, int) or "." in p else f".{p}" for p in loc).lstrip(".")


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or as the items of a list; ``None`` for plain values."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unknown_key(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    section, name = loc[:-1], str(loc[-1])
    model, listed = root, False
    for part in section:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if isinstance(part, str) and (table := model_of(annotation)) is not None:
            model, listed = table, get_origin(annotation) is list
    known = sorted(model.model_fields)
    tables = _path(tuple(part for part in section if isinstance(part, str)))
    where = f"[[{tables}]]" if listed else f"[{_path(section)}]" if section else "the top level"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"unknown key {_path((*section, name))!r}{hint} Valid keys of {where}: {', '.join(known)}."


def _field(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    model: type[BaseModel] | None = root
    info = None
    for part in loc:
        if isinstance(part, int) and model is not None and info is not None:
            continue  # an item of a list of tables
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None if model is not None else info
        info = model.model_fields[part]
        model = model_of(info.annotation)
    return info


def _constraint(kind: str, ctx: Mapping[str, Any], info: FieldInfo | None) -> str:
    annotation = info.annotation if info is not None else None
    types = {annotation, *get_args(annotation)}
    noun = "an integer" if int in types or kind.startswith("int") else "a number"
    if kind == "literal_error":
        return str(ctx["expected"])
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind.startswith("string"):
        return "a string in quotes"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "a table"
    if kind == "list_type":
        return "a list of tables" if model_of(annotation) else "a list of strings"
    found = {op: getattr(m, op) for m in (info.metadata if info else []) for op in _SYMBOLS if hasattr(m, op)}
    bounds = found or {op: ctx[op] for op in _SYMBOLS if op in ctx}
    finite = "a finite number" if kind == "finite_number" and noun == "a number" else noun
    optional = " (or left out)" if type(None) in types else ""
    return f"{finite}{_range(bounds)}{optional}"


def _range(bounds: Mapping[str, object]) -> str:
    low = [(op, bound) for op, bound in bounds.items() if op in ("ge", "gt")]
    high = [(op, bound) for op, bound in bounds.items() if op in ("le", "lt")]
    if low and high:
        (lop, lo), (hop, hi) = low[0], high[0]
        return f" in {'[' if lop == 'ge' else '('}{lo}, {hi}{']' if hop == 'le' else ')'}"
    return "".join(f" {_SYMBOLS[op]} {bound}" for op, bound in low + high)
