"""What a schedule's fields hold, the checks of single values, and the one walk over a field.

A field's :class:`Kind` is read from its type hint (:func:`lrlab.schedules.base.field_kinds`),
never from the hint's spelling. ``Steps`` marks a duration or a moment in time — what stretches
when a schedule is rescaled in time; ``Count`` marks how many of something (``cycles``), checked
like steps but never rescaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Annotated

MIN_STEPS = 1e-6  # a positive duration below this divides steps into inf or nan
MAX_VALUE = 1e12  # any number of a schedule; base LR x multiplier then fits float32 (3.4e38)


class Kind(Enum):
    """What a schedule field holds; the first six are also the single values inside a field."""

    STEPS = "steps"  # a duration or a moment, in steps; stored as int when integral
    COUNT = "count"  # how many of something; checked like steps, never rescaled
    FLOAT = "float"
    BOOL = "bool"
    TEXT = "str"
    SCHEDULE = "schedule"
    OPTIONAL_STEPS = "steps or none"
    OPTIONAL_COUNT = "count or none"
    STEPS_LIST = "list of steps"
    POINTS = "list of [step, multiplier] points"
    SCHEDULES = "list of schedules"


Steps = Annotated[float, Kind.STEPS]
Count = Annotated[float, Kind.COUNT]

_OPTIONAL = {Kind.OPTIONAL_STEPS: Kind.STEPS, Kind.OPTIONAL_COUNT: Kind.COUNT}
_LISTS = {Kind.STEPS_LIST: Kind.STEPS, Kind.SCHEDULES: Kind.SCHEDULE}


class FieldError(Exception):
    """A value that a field cannot hold: the ``constraint`` it breaks and the ``value``."""

    def __init__(self, constraint: str, value: object) -> None:
        super().__init__(constraint)
        self.constraint = constraint
        self.value = value


def walk(kind: Kind, value: object, visit: Callable[[Kind, object], object]) -> object:
    """``value``, a field of ``kind``, rebuilt with ``visit(single kind, item)`` in place of each
    single value in it (a step, count, number, flag, text or schedule), in order.

    Lists become tuples; a value of the wrong shape raises :class:`FieldError`.
    """
    if kind in _OPTIONAL:
        return None if value is None else visit(_OPTIONAL[kind], value)
    if kind in _LISTS:
        return tuple(visit(_LISTS[kind], item) for item in _sequence(value))
    if kind is Kind.POINTS:
        return tuple(_point(item, value, visit) for item in _sequence(value))
    return visit(kind, value)


def _point(item: object, points: object, visit: Callable[[Kind, object], object]) -> tuple[object, object]:
    pair = _sequence(item)
    if len(pair) != 2:
        raise FieldError("a list of [step, multiplier] pairs", points)
    return visit(Kind.STEPS, pair[0]), visit(Kind.FLOAT, pair[1])


def _sequence(value: object) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise FieldError("a list like [10, 20]", value)
    return tuple(value)


def real(value: object) -> float:
    """``value`` as a float: a finite number of at most ``MAX_VALUE`` in size."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError("a number", value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise FieldError("a finite number", value)
    if abs(number) > MAX_VALUE:
        raise FieldError("a finite number of at most 1e12 in size", value)
    return number


def steps(value: object) -> float:
    """``value`` as a number of steps (or a count): ``0`` or at least ``MIN_STEPS``, an ``int``
    when integral."""
    number = real(value)
    if number < 0:
        raise FieldError("a number of steps >= 0", value)
    if 0 < number < MIN_STEPS:
        raise FieldError("0 or a number of steps >= 1e-6", value)
    return int(number) if number.is_integer() and number < 2**53 else number


def flag(value: object) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise FieldError("true or false", value)
    return value


def text(value: object) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        raise FieldError("a quoted string", value)
    return value


SINGLE_CHECKS: dict[Kind, Callable[[object], object]] = {
    Kind.STEPS: steps,
    Kind.COUNT: steps,
    Kind.FLOAT: real,
    Kind.BOOL: flag,
    Kind.TEXT: text,
}
"""The check of each single value but a schedule (that one is in :mod:`lrlab.schedules.base`)."""
