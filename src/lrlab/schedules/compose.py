"""Combinators: warmup, ``>>`` (join), scale, floor, skip and take. They work with every family."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass

from lrlab.schedules.base import Join, Schedule, lerp
from lrlab.schedules.kinds import Steps

_WARMUP_SHAPES = ("linear", "exp", "cosine", "1-sqrt")


@dataclass(frozen=True, kw_only=True, repr=False)
class Warmup(Schedule):
    """From ``start`` up to 1 over ``steps``, then 1; put it first: ``warmup(...) >> cosine(...)``.

    Shapes at progress ``p = t / steps``: ``linear`` ``start + (1 - start) p``; ``exp``
    ``start ** (1 - p)`` (geometric, ``start > 0``); ``cosine`` ``start + (1 - start)(1 -
    cos(pi p)) / 2``; ``1-sqrt`` ``start + (1 - start)(1 - sqrt(1 - p))``. ``start`` is explicit
    because ``start=0.0`` wastes the first update while matching Hugging Face.

    >>> warmup(steps=4, start=0.0).values(6)
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    >>> warmup(steps=2, start=0.01, shape="exp").values(3)
    [0.01, 0.1, 1.0]
    """

    name = "warmup"
    steps: Steps
    start: float
    shape: str = "linear"

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(0 <= self.start <= 1, "start", "in [0, 1] (a fraction of the peak)")
        shapes = ", ".join(map(repr, _WARMUP_SHAPES))
        self.require(self.shape in _WARMUP_SHAPES, "shape", f"one of {shapes}")
        if self.shape == "exp":
            self.require(self.start > 0, "start", "> 0 for shape='exp'", "Use start=0.01, say.")

    def at(self, step: float) -> float:
        if step >= self.steps:
            return 1.0
        progress = step / self.steps
        if self.shape == "exp":
            return float(self.start ** (1.0 - progress))
        if self.shape == "cosine":
            progress = (1.0 - math.cos(math.pi * progress)) / 2.0
        elif self.shape == "1-sqrt":
            progress = 1.0 - math.sqrt(1.0 - progress)
        return lerp(self.start, 1.0, progress)

    @property
    def duration(self) -> float | None:
        return self.steps


@dataclass(frozen=True, repr=False)
class Scale(Schedule):
    """``add + factor * schedule(t)``: rescale a schedule (e.g. Keras' ``alpha`` floors).

    >>> scale(linear(steps=2), factor=0.5, add=0.1).values(3)
    [0.6, 0.35, 0.1]
    """

    name = "scale"
    schedule: Schedule
    _: KW_ONLY
    factor: float
    add: float = 0.0

    def check(self) -> None:
        self.require(self.factor >= 0, "factor", ">= 0")
        self.require(self.add >= 0, "add", ">= 0")

    def at(self, step: float) -> float:
        return self.add + self.factor * self.schedule.at(step)

    @property
    def duration(self) -> float | None:
        return self.schedule.duration


@dataclass(frozen=True, repr=False)
class Floor(Schedule):
    """``max(value, schedule(t))``: never below ``value``.

    >>> floor(linear(steps=2), value=0.2).values(3)
    [1.0, 0.5, 0.2]
    """

    name = "floor"
    schedule: Schedule
    _: KW_ONLY
    value: float

    def check(self) -> None:
        self.require(self.value >= 0, "value", ">= 0")

    def at(self, step: float) -> float:
        return max(self.value, self.schedule.at(step))

    @property
    def duration(self) -> float | None:
        return self.schedule.duration


@dataclass(frozen=True, repr=False)
class Skip(Schedule):
    """``schedule(t + steps)``: start a schedule ``steps`` into its course.

    >>> skip(linear(steps=4), steps=2).values(3)
    [0.5, 0.25, 0.0]
    """

    name = "skip"
    schedule: Schedule
    _: KW_ONLY
    steps: Steps

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        inner = self.schedule.duration
        self.require(inner is None or self.steps < inner, "steps", f"< the schedule's length {inner}")

    def at(self, step: float) -> float:
        return self.schedule.at(step + self.steps)

    @property
    def duration(self) -> float | None:
        inner = self.schedule.duration
        return None if inner is None else inner - self.steps


@dataclass(frozen=True, repr=False)
class Take(Schedule):
    """The first ``steps`` of a schedule as a piece of that length for ``>>``.

    Alone it is the same function (``take`` only sets where the next part starts):

    >>> (take(cosine(steps=4, periodic=True), steps=2) >> constant(value=0.1)).values(4)
    [1.0, 0.8535533905932737, 0.1, 0.1]
    """

    name = "take"
    schedule: Schedule
    _: KW_ONLY
    steps: Steps

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")

    def at(self, step: float) -> float:
        return self.schedule.at(step)

    @property
    def duration(self) -> float | None:
        return self.steps


def join(*schedules: Schedule) -> Schedule:
    """Run ``schedules`` one after another (the same as ``a >> b >> …``)."""
    return Join(tuple(schedules))


warmup = Warmup
scale = Scale
floor = Floor
skip = Skip
take = Take
