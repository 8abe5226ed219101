"""The :class:`Schedule` base class: a pure, picklable function ``step -> multiplier``.

Subclasses are frozen, keyword-only dataclasses. Their fields are checked and normalized once,
at construction, from the field's declared type (``float``, ``Steps``, ``bool`` …), so that
equal schedules compare equal and print the same canonical spec.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from lrlab.errors import LrlabError, invalid
from lrlab.spec import format_value

Steps = float  # a duration or point in time, in steps; stored as int when integral
MIN_STEPS = 1e-6  # a positive duration below this divides steps into inf or nan
MAX_VALUE = 1e12  # any number of a schedule; base LR x multiplier then fits float32 (3.4e38)
PROBE_STEPS = (0, 1, 10, 1e3, 1e6, 1e9, 1e12)  # where a new schedule must give finite values

FAMILIES: dict[str, type[Schedule]] = {}


def lerp(a: float, b: float, w: float) -> float:
    """``a`` at ``w = 0``, ``b`` at ``w >= 1``: exact at both ends, monotone in ``w``, never past ``b``."""
    if w >= 1.0:
        return b
    value = a + (b - a) * w
    return max(value, b) if a >= b else min(value, b)


def safe_floor(x: float) -> float:
    """``floor(x)`` that stays a float beyond the integers a float can tell apart."""
    return float(math.floor(x)) if x < 2.0**52 else x


@dataclass(frozen=True, kw_only=True, repr=False)
class Schedule:
    """A learning-rate schedule: ``schedule(step)`` is the multiplier of each group's base LR.

    ``step`` is the 0-based count of the interval (optimizer steps, or epochs), an ``int`` or a
    ``float`` ≥ 0. ``str(schedule)`` is its canonical spec, and ``a >> b`` runs ``a`` for its
    ``duration`` and then ``b``, with ``b`` seeing time from its own start.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            FAMILIES[cls.name] = cls

    def __post_init__(self) -> None:
        for f in fields(self):
            if not f.init:
                continue
            normalize = _NORMALIZERS[str(f.type)]
            object.__setattr__(self, f.name, normalize(self, f.name, getattr(self, f.name)))
        self.check()
        self._probe()

    def _probe(self) -> None:
        """Fail now, not at step time, when fields that are each in range still overflow together
        (``scale(scale(constant(), factor=1e12), factor=1e12)``, huge ``mult`` … ``steps``)."""
        steps = PROBE_STEPS if self.duration is None else (*PROBE_STEPS, self.duration)
        for step in steps:
            try:
                value = self.at(step)
            except (ArithmeticError, ValueError):  # float overflow, math's domain errors
                value = math.nan
            if not 0 <= value <= MAX_VALUE:
                raise LrlabError(
                    f"{self}: the multiplier at step {format_value(step)} is {value!r}, beyond the "
                    "range [0, 1e12] (the numbers overflow); use smaller factors or longer steps."
                )

    def check(self) -> None:
        """Validate the relations between fields (each family adds its own)."""

    def at(self, step: float) -> float:
        """The multiplier at ``step`` (no argument checks: the hot path)."""
        raise NotImplementedError

    @property
    def duration(self) -> float | None:
        """How long the schedule runs when followed by another (``None``: forever)."""
        return None

    def __call__(self, step: float) -> float:
        if not 0 <= step < math.inf:
            raise invalid("step", "a finite number >= 0", step)
        return self.at(step)

    def values(self, count: int, start: int = 0) -> list[float]:
        """Multipliers at steps ``start, start + 1, …, start + count - 1``."""
        if count < 0 or start < 0:
            raise invalid("count", "an integer >= 0", count)
        return [self.at(step) for step in range(start, start + count)]

    def __rshift__(self, other: Schedule) -> Schedule:
        from lrlab.schedules.compose import join

        return join(self, other)

    def arguments(self) -> Iterator[tuple[str, object]]:
        """The fields the spec shows: the required ones and those not at their default."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.init and (f.default is MISSING or value != f.default):
                yield f.name, value

    def __str__(self) -> str:
        positional = {f.name for f in fields(self) if not f.kw_only}
        shown = ", ".join(
            format_value(value) if key in positional else f"{key}={format_value(value)}"
            for key, value in self.arguments()
        )
        return f"{self.name}({shown})"

    __repr__ = __str__

    def fail(self, param: str, constraint: str, fix: str = "") -> LrlabError:
        """The standard error for a bad field of this schedule."""
        error = invalid(param, constraint, getattr(self, param), fix)
        return LrlabError(f"{self.name}(): {error}")

    def require(self, condition: bool, param: str, constraint: str, fix: str = "") -> None:
        """Raise :meth:`fail` unless ``condition`` holds."""
        if not condition:
            raise self.fail(param, constraint, fix)


def _type_error(owner: Schedule, param: str, kind: str, value: object) -> LrlabError:
    return LrlabError(f"{owner.name or type(owner).__name__}(): {invalid(param, kind, value)}")


def _real(owner: Schedule, param: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(owner, param, "a number", value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise _type_error(owner, param, "a finite number", value)
    if abs(number) > MAX_VALUE:
        raise _type_error(owner, param, "a finite number of at most 1e12 in size", value)
    return number


def _steps(owner: Schedule, param: str, value: object) -> float:
    number = _real(owner, param, value)
    if number < 0:
        raise _type_error(owner, param, "a number of steps >= 0", value)
    if 0 < number < MIN_STEPS:
        raise _type_error(owner, param, "0 or a number of steps >= 1e-6", value)
    return int(number) if number.is_integer() and number < 2**53 else number


def _optional_steps(owner: Schedule, param: str, value: object) -> float | None:
    return None if value is None else _steps(owner, param, value)


def _bool(owner: Schedule, param: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _type_error(owner, param, "true or false", value)
    return value


def _text(owner: Schedule, param: str, value: object) -> str:
    if not isinstance(value, str):
        raise _type_error(owner, param, "a quoted string", value)
    return value


def _sequence(owner: Schedule, param: str, value: object) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _type_error(owner, param, "a list like [10, 20]", value)
    return tuple(value)


def _steps_tuple(owner: Schedule, param: str, value: object) -> tuple[float, ...]:
    return tuple(_steps(owner, param, item) for item in _sequence(owner, param, value))


def _points(owner: Schedule, param: str, value: object) -> tuple[tuple[float, float], ...]:
    points = []
    for item in _sequence(owner, param, value):
        pair = _sequence(owner, param, item)
        if len(pair) != 2:
            raise _type_error(owner, param, "a list of [step, multiplier] pairs", value)
        points.append((_steps(owner, param, pair[0]), _real(owner, param, pair[1])))
    return tuple(points)


def _schedule(owner: Schedule, param: str, value: object) -> Schedule:
    if not isinstance(value, Schedule):
        raise _type_error(owner, param, "a schedule like cosine(steps=10)", value)
    return value


def _schedules(owner: Schedule, param: str, value: object) -> tuple[Schedule, ...]:
    return tuple(_schedule(owner, param, item) for item in _sequence(owner, param, value))


_NORMALIZERS = {
    "float": _real,
    "Steps": _steps,
    "Steps | None": _optional_steps,
    "bool": _bool,
    "str": _text,
    "tuple[Steps, ...]": _steps_tuple,
    "tuple[tuple[Steps, float], ...]": _points,
    "Schedule": _schedule,
    "tuple[Schedule, ...]": _schedules,
}
