"""Schedule specs: text ⇄ :class:`Schedule`, safely and canonically.

``parse(text)`` builds the schedule a spec describes; ``str(schedule)`` prints it back in the
canonical form, so ``str(parse(s)) == s`` for every canonical ``s`` and
``parse(str(x)) == x`` for every schedule ``x``.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from lrlab.errors import LrlabError, unknown
from lrlab.schedules.base import FAMILIES, Schedule
from lrlab.schedules.compose import join
from lrlab.spec import Call, Chain, Value, format_value, parse_expression


def parse(text: str | Schedule) -> Schedule:
    """Parse a spec such as ``"warmup(steps=5, start=0.0) >> cosine(steps=15)"``.

    A :class:`Schedule` is returned as is. Any problem raises :class:`LrlabError` naming the
    bad part and the fix.
    """
    if isinstance(text, Schedule):
        return text
    return _build(parse_expression(text))


def _build(expression: Call | Chain) -> Schedule:
    if isinstance(expression, Chain):
        return join(*(_build(part) for part in expression.parts))
    family = FAMILIES.get(expression.name)
    if family is None:
        raise unknown("schedule", expression.name, FAMILIES)
    params = [f for f in fields(family) if f.init]
    positional = [f.name for f in params if not f.kw_only]
    if len(expression.args) > len(positional):
        example = f"{expression.name}({params[0].name}=…)"
        raise LrlabError(f"{expression.name}() takes keyword arguments: write {example}.")
    given = dict(zip(positional, expression.args, strict=False)) | dict(expression.kwargs)
    for key in given:
        if key not in {f.name for f in params}:
            raise unknown(f"{expression.name}() parameter", key, [f.name for f in params])
    missing = [f.name for f in params if f.default is MISSING and f.name not in given]
    if missing:
        needed = ", ".join(f"{name}=…" for name in missing)
        raise LrlabError(f"{expression.name}() needs {needed}; {signature(family)}.")
    return family(**{key: _value(value) for key, value in given.items()})


def _value(value: Value) -> Value:
    if isinstance(value, (Call, Chain)):
        return _build(value)
    if isinstance(value, list):
        return [_value(item) for item in value]
    return value


def signature(family: type[Schedule]) -> str:
    """``name(required, optional=default, …)`` for help and error messages."""
    shown = [
        f.name if f.default is MISSING else f"{f.name}={format_value(f.default)}"
        for f in fields(family)
        if f.init
    ]
    return f"{family.name}({', '.join(shown)})"
