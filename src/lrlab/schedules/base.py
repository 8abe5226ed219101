"""The :class:`Schedule` base class: a pure, picklable function ``step -> multiplier``.

Subclasses are frozen, keyword-only dataclasses. Their fields are checked and normalized once,
at construction, by their kind (:func:`field_kinds`, read from the type hints: ``float``,
``Steps``, ``bool`` …), so that equal schedules compare equal and print the same canonical spec.
:class:`Join` (``a >> b``) lives here too, so that ``>>`` needs no other module.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, get_type_hints

from lrlab.errors import LrlabError, invalid
from lrlab.schedules.kinds import MAX_VALUE, SINGLE_CHECKS, Count, FieldError, Kind, Steps, walk
from lrlab.spec import format_value

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
        for name, kind in field_kinds(type(self)).items():
            object.__setattr__(self, name, self._normalized(name, kind, getattr(self, name)))
        self.check()
        self._probe()

    def _normalized(self, param: str, kind: Kind, value: object) -> object:
        try:
            return walk(kind, value, _check_single)
        except FieldError as error:
            problem = invalid(param, error.constraint, error.value)
            raise LrlabError(f"{self.name or type(self).__name__}(): {problem}") from None

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
        return Join((self, other))

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


@dataclass(frozen=True, repr=False)
class Join(Schedule):
    """``a >> b >> …``: each part runs for its ``duration``, the next sees time from its start.

    >>> (constant(value=0.5, steps=2) >> linear(steps=2)).values(5)
    [0.5, 0.5, 1.0, 0.5, 0.0]
    """

    parts: tuple[Schedule, ...]
    starts: tuple[float, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        flat: list[Schedule] = []
        for part in self.parts:
            flat.extend(part.parts if isinstance(part, Join) else [part])
        object.__setattr__(self, "parts", tuple(flat))
        super().__post_init__()

    def check(self) -> None:
        if len(self.parts) < 2:
            raise LrlabError(f"'>>' needs two schedules or more, got {len(self.parts)}.")
        starts = [0.0]
        for part in self.parts[:-1]:
            if part.duration is None:
                raise LrlabError(
                    f"{part} runs forever, so nothing can follow it with '>>'; "
                    "give it a length (e.g. steps=…) or put it last."
                )
            starts.append(starts[-1] + part.duration)
        object.__setattr__(self, "starts", tuple(starts))

    def at(self, step: float) -> float:
        index = bisect_right(self.starts, step) - 1
        return self.parts[index].at(step - self.starts[index])

    @property
    def duration(self) -> float | None:
        last = self.parts[-1].duration
        return None if last is None else self.starts[-1] + last

    def __str__(self) -> str:
        return " >> ".join(str(part) for part in self.parts)

    __repr__ = __str__


_HINT_KINDS: dict[object, Kind] = {
    Steps: Kind.STEPS,
    Count: Kind.COUNT,
    float: Kind.FLOAT,
    bool: Kind.BOOL,
    str: Kind.TEXT,
    Schedule: Kind.SCHEDULE,
    Steps | None: Kind.OPTIONAL_STEPS,
    Count | None: Kind.OPTIONAL_COUNT,
    tuple[Steps, ...]: Kind.STEPS_LIST,
    tuple[tuple[Steps, float], ...]: Kind.POINTS,
    tuple[Schedule, ...]: Kind.SCHEDULES,
}


_FIELD_KINDS: dict[type[Schedule], Mapping[str, Kind]] = {}


def field_kinds(family: type[Schedule]) -> Mapping[str, Kind]:
    """The kind of each field of ``family`` that its constructor takes, from its type hints.

    The one place that says what a field holds: checks, normalization and :func:`rescale` all
    read it. A hint without a kind is a ``TypeError`` at the family's first construction.
    """
    if family not in _FIELD_KINDS:
        hints = get_type_hints(family, include_extras=True)
        params = [f.name for f in fields(family) if f.init]
        _FIELD_KINDS[family] = {name: _kind(family, name, hints[name]) for name in params}
    return _FIELD_KINDS[family]


def _kind(family: type[Schedule], name: str, hint: object) -> Kind:
    if hint not in _HINT_KINDS:
        known = ", ".join(sorted(map(str, _HINT_KINDS)))
        raise TypeError(f"{family.__name__}.{name}: no field kind for {hint}; known: {known}")
    return _HINT_KINDS[hint]


def _check_single(kind: Kind, value: object) -> object:
    if kind is not Kind.SCHEDULE:
        return SINGLE_CHECKS[kind](value)
    if not isinstance(value, Schedule):
        raise FieldError("a schedule like cosine(steps=10)", value)
    return value
