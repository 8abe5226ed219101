"""What the presets share: reading another library's arguments by their own names, and the few
conversions (ramps, shifts, rescaling) that turn its conventions into lrlab compositions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.schedules.base import Schedule
from lrlab.schedules.compose import Scale, join, scale, skip, warmup
from lrlab.schedules.families import Constant, constant, linear


class Required:
    """The type of :data:`REQUIRED`, the default of an argument the library requires."""


REQUIRED = Required()


class Args:
    """The keyword arguments of one library call, checked and read by the library's names.

    Every problem is an :class:`LrlabError` that starts with ``where`` (e.g.
    ``from_hf('cosine')``) and names the library's own argument.
    """

    def __init__(self, where: str, given: Mapping[str, object], known: Iterable[str]) -> None:
        self.where = where
        self.given = dict(given)
        self.read: dict[str, object] = {}
        names = list(known)
        for key in self.given:
            if key not in names:
                raise LrlabError(f"{where}: {unknown('argument', key, names)}")

    def fail(self, param: str, constraint: str, fix: str = "") -> LrlabError:
        """The standard error for ``param`` (its value as read, or as given)."""
        value = self.read.get(param, self.given.get(param))
        return LrlabError(f"{self.where}: {invalid(param, constraint, value, fix)}")

    def require(self, condition: bool, param: str, constraint: str, fix: str = "") -> None:
        """Raise :meth:`fail` unless ``condition`` holds."""
        if not condition:
            raise self.fail(param, constraint, fix)

    def missing(self, param: str, fix: str = "") -> LrlabError:
        """The error for a required argument that was not given."""
        message = f"{self.where} needs {param}=…."
        return LrlabError(f"{message} {fix}" if fix else message)

    def _get(self, param: str, default: object) -> object:
        if param in self.given:
            return self.given[param]
        if isinstance(default, Required):
            raise self.missing(param)
        return default

    def number(self, param: str, default: float | Required = REQUIRED, *, integer: bool = False) -> float:
        """A finite number (an ``int`` when ``integer``)."""
        value = self._get(param, default)
        self.read[param] = value
        number = _as_number(value, integer)
        if number is None:
            raise self.fail(param, "an integer" if integer else "a finite number")
        self.read[param] = number
        return number

    def optional(self, param: str, *, integer: bool = False) -> float | None:
        """A finite number, or ``None`` when not given (or given as ``None``)."""
        if self.given.get(param) is None:
            return None
        return self.number(param, integer=integer)

    def numbers(self, param: str, *, integer: bool = False) -> list[float]:
        """A non-empty list of finite numbers (of integers when ``integer``)."""
        values = self._get(param, REQUIRED)
        self.read[param] = values
        kind = "integers" if integer else "numbers"
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
            raise self.fail(param, f"a non-empty list of {kind}")
        numbers = [_as_number(value, integer) for value in values]
        checked = [number for number in numbers if number is not None]
        if len(checked) < len(numbers):
            raise self.fail(param, f"a list of finite {kind}")
        return checked

    def base_lr(self, lr: object) -> float:
        """The caller's ``lr=``, the param group's base LR: a finite number > 0."""
        self.read["lr"] = lr
        number = _as_number(lr, integer=False)
        if number is None or number <= 0:
            raise self.fail("lr", "a finite number > 0 (the param group's base LR)")
        return number

    def flag(self, param: str, default: bool) -> bool:
        """``True`` or ``False``."""
        value = self._get(param, default)
        self.read[param] = value
        if not isinstance(value, bool):
            raise self.fail(param, "True or False")
        return value

    def choice(self, param: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices``."""
        value = self._get(param, default)
        self.read[param] = value
        if value not in choices:
            raise self.fail(param, "one of " + ", ".join(map(repr, choices)))
        return str(value)


def _as_number(value: object, integer: bool) -> float | None:
    """``value`` as an ``int``/``float`` if it is a finite (integral) number, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if integer:
        return int(value) if float(value).is_integer() else None
    return float(value)


def chain(*parts: Schedule | None) -> Schedule:
    """``a >> b >> …`` over the parts that are not ``None``; a single part is returned as is."""
    present = [part for part in parts if part is not None]
    return present[0] if len(present) == 1 else join(*present)


def ramp(steps: float, start: float) -> Schedule:
    """A straight line from ``start`` to 1 over ``steps`` (Keras' and timm's warmup).

    ``warmup`` when it rises (``start <= 1``), ``linear`` when a library warms *down* to its peak.
    """
    if 0 <= start <= 1:
        return warmup(steps=steps, start=start)
    return linear(steps=steps, start=start, end=1.0)


def affine(schedule: Schedule, factor: float = 1.0, add: float = 0.0) -> Schedule:
    """``add + factor * schedule(t)``, folding nested rescales and leaving the identity out."""
    if isinstance(schedule, Scale):
        factor, add = factor * schedule.factor, factor * schedule.add + add
        schedule = schedule.schedule
    if factor == 1 and add == 0:
        return schedule
    return scale(schedule, factor=factor, add=add)


def shift(schedule: Schedule, steps: float) -> Schedule:
    """``schedule(t + steps)`` for a schedule that is clamped after its ``duration``."""
    end = schedule.duration
    if steps == 0 or (isinstance(schedule, Constant) and end is None):
        return schedule
    if end is not None and steps >= end:
        return constant(value=schedule.at(steps))
    return skip(schedule, steps=steps)
