"""The schedule families. Each docstring's formula *is* the definition (``t`` = step).

Conventions, once for all (see docs/schedules.md for how other libraries differ):

* a boundary belongs to the right piece: ``step(every=3)`` first decays at ``t = 3``;
* a finite family reaches its end value exactly at ``t = steps`` and stays there (clamped),
  unless it says otherwise (``cosine(periodic=true)``, ``one_cycle``'s endpoint at ``steps - 1``);
* ``start``, ``peak`` and ``end`` are multipliers of the base LR, never absolute LRs.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise

from lrlab.schedules.base import Schedule, lerp, safe_floor
from lrlab.schedules.kinds import Count, Steps

_DECAY_SHAPES = ("linear", "cosine", "1-sqrt", "exponential")


def _choice(schedule: Schedule, param: str, choices: tuple[str, ...]) -> None:
    schedule.require(getattr(schedule, param) in choices, param, "one of " + ", ".join(map(repr, choices)))


def _exponent(t: float, every: float, staircase: bool) -> float:
    return safe_floor(t / every) if staircase else t / every


@dataclass(frozen=True, kw_only=True, repr=False)
class Constant(Schedule):
    """``value`` for every step; with ``steps``, a piece of that length for ``>>``.

    >>> (constant(value=0.1, steps=2) >> constant())(2)
    1.0
    """

    name = "constant"
    value: float = 1.0
    steps: Steps | None = None

    def check(self) -> None:
        self.require(self.value >= 0, "value", ">= 0")

    def at(self, step: float) -> float:
        return self.value

    @property
    def duration(self) -> float | None:
        return self.steps


@dataclass(frozen=True, kw_only=True, repr=False)
class Step(Schedule):
    """``gamma ** floor(t / every)``: decay by ``gamma`` every ``every`` steps.

    >>> step(every=2, gamma=0.5).values(5)
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    name = "step"
    every: Steps
    gamma: float = 0.1

    def check(self) -> None:
        self.require(self.every > 0, "every", "> 0")
        self.require(0 <= self.gamma <= 1, "gamma", "in [0, 1]")

    def at(self, step: float) -> float:
        return float(self.gamma ** safe_floor(step / self.every))


@dataclass(frozen=True, kw_only=True, repr=False)
class Multistep(Schedule):
    """``gamma ** (number of milestones <= t)``: decay by ``gamma`` at each milestone.

    >>> multistep(milestones=[1, 3], gamma=0.5).values(4)
    [1.0, 0.5, 0.5, 0.25]
    """

    name = "multistep"
    milestones: tuple[Steps, ...]
    gamma: float = 0.1

    def check(self) -> None:
        self.require(len(self.milestones) > 0, "milestones", "a non-empty list like [30, 60]")
        ordered = all(a <= b for a, b in pairwise(self.milestones))
        self.require(ordered, "milestones", "in increasing order")
        self.require(0 <= self.gamma <= 1, "gamma", "in [0, 1]")

    def at(self, step: float) -> float:
        return float(self.gamma ** bisect_right(self.milestones, step))


@dataclass(frozen=True, kw_only=True, repr=False)
class Exponential(Schedule):
    """``gamma ** (t / every)``; with ``staircase``, ``gamma ** floor(t / every)``.

    >>> exponential(gamma=0.25, every=2).values(3)
    [1.0, 0.5, 0.25]
    """

    name = "exponential"
    gamma: float
    every: Steps = 1
    staircase: bool = False

    def check(self) -> None:
        self.require(0 < self.gamma <= 1, "gamma", "in (0, 1]")
        self.require(self.every > 0, "every", "> 0")

    def at(self, step: float) -> float:
        return float(self.gamma ** _exponent(step, self.every, self.staircase))


@dataclass(frozen=True, kw_only=True, repr=False)
class InverseTime(Schedule):
    """``1 / (1 + rate * t / every)`` (``floor(t / every)`` with ``staircase``).

    >>> inverse_time(rate=1.0).values(4)
    [1.0, 0.5, 0.3333333333333333, 0.25]
    """

    name = "inverse_time"
    rate: float
    every: Steps = 1
    staircase: bool = False

    def check(self) -> None:
        self.require(self.rate >= 0, "rate", ">= 0")
        self.require(self.every > 0, "every", "> 0")

    def at(self, step: float) -> float:
        return 1.0 / (1.0 + self.rate * _exponent(step, self.every, self.staircase))


@dataclass(frozen=True, kw_only=True, repr=False)
class InverseSqrt(Schedule):
    """``(t + offset) ** -0.5``; ``offset=1`` gives ``1, 1/√2, 1/√3, …``.

    >>> [round(v, 4) for v in inverse_sqrt(offset=1).values(4)]
    [1.0, 0.7071, 0.5774, 0.5]
    """

    name = "inverse_sqrt"
    offset: Steps

    def check(self) -> None:
        self.require(self.offset > 0, "offset", "> 0", "Use offset=1 for (t+1)^-0.5.")

    def at(self, step: float) -> float:
        return float((step + self.offset) ** -0.5)


@dataclass(frozen=True, kw_only=True, repr=False)
class Polynomial(Schedule):
    """``end + (1 - end) * (1 - min(t, steps) / steps) ** power``.

    With ``cycle``, the horizon grows to the next multiple of ``steps`` instead of clamping
    (Keras ``PolynomialDecay(cycle=True)``).

    >>> polynomial(steps=4, power=2.0).values(6)
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    name = "polynomial"
    steps: Steps
    power: float = 1.0
    end: float = 0.0
    cycle: bool = False

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(self.power > 0, "power", "> 0")
        self.require(self.end >= 0, "end", ">= 0")

    def at(self, step: float) -> float:
        if self.cycle:
            horizon = self.steps * max(1.0, math.ceil(step / self.steps))
            progress = step / horizon
        else:
            progress = min(step, self.steps) / self.steps
        return lerp(self.end, 1.0, (1.0 - progress) ** self.power)

    @property
    def duration(self) -> float | None:
        return None if self.cycle else self.steps


@dataclass(frozen=True, kw_only=True, repr=False)
class Linear(Schedule):
    """From ``start`` to ``end`` in a straight line over ``steps``, then ``end``.

    >>> linear(steps=4, start=1.0, end=0.5).values(6)
    [1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
    """

    name = "linear"
    steps: Steps
    start: float = 1.0
    end: float = 0.0

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(self.start >= 0, "start", ">= 0")
        self.require(self.end >= 0, "end", ">= 0")

    def at(self, step: float) -> float:
        return lerp(self.start, self.end, min(step, self.steps) / self.steps)

    @property
    def duration(self) -> float | None:
        return self.steps


@dataclass(frozen=True, kw_only=True, repr=False)
class Cosine(Schedule):
    """``end + (start - end) * (1 + cos(pi * min(t, steps) / steps)) / 2``.

    With ``periodic``, ``t`` is not clamped: the curve rises again after ``steps`` (period
    ``2 * steps``), as torch's ``CosineAnnealingLR`` and Hugging Face's ``cosine`` do.

    >>> [round(v, 4) for v in cosine(steps=4, end=0.1).values(6)]
    [1.0, 0.8682, 0.55, 0.2318, 0.1, 0.1]
    """

    name = "cosine"
    steps: Steps
    end: float = 0.0
    start: float = 1.0
    periodic: bool = False

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(self.end >= 0, "end", ">= 0")
        self.require(self.start >= 0, "start", ">= 0")

    def at(self, step: float) -> float:
        t = step if self.periodic else min(step, self.steps)
        if t > 2.0**52:  # cos of a huge angle is meaningless; stay at the period's start
            t = 0.0
        return lerp(self.end, self.start, (1.0 + math.cos(math.pi * t / self.steps)) / 2.0)

    @property
    def duration(self) -> float | None:
        return self.steps


@dataclass(frozen=True, kw_only=True, repr=False)
class CosineRestarts(Schedule):
    """SGDR: cosine cycles from ``decay ** i`` down toward ``end``, restarting at the peak.

    Cycle ``i`` lasts ``steps * mult ** i``; within it, at local time ``u``, the value is
    ``end + (decay ** i - end) * (1 + cos(pi * u / length)) / 2``. A restart happens at the
    boundary, so ``end`` itself is never reached at integer steps. After ``cycles`` cycles
    (if given; a fraction cuts the last cycle short) the value stays at ``end``.

    >>> [round(v, 3) for v in cosine_restarts(steps=3, mult=2.0).values(10)]
    [1.0, 0.75, 0.25, 1.0, 0.933, 0.75, 0.5, 0.25, 0.067, 1.0]
    """

    name = "cosine_restarts"
    steps: Steps
    mult: float = 1.0
    decay: float = 1.0
    end: float = 0.0
    cycles: Count | None = None

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(self.mult >= 1, "mult", ">= 1")
        self.require(0 < self.decay <= 1, "decay", "in (0, 1]")
        self.require(self.end >= 0, "end", ">= 0")
        self.require(self.cycles is None or self.cycles >= 1, "cycles", ">= 1 (or none for endless)")

    def cycle_start(self, index: float) -> float:
        """The step at which cycle ``index`` begins."""
        if self.mult == 1:
            return self.steps * index
        return float(self.steps * (self.mult**index - 1.0) / (self.mult - 1.0))

    def cycle_of(self, step: float) -> int:
        """The index of the cycle that ``step`` falls in."""
        if self.mult == 1:
            index = int(step // self.steps)
        else:
            index = int(math.log1p(step / self.steps * (self.mult - 1.0)) / math.log(self.mult))
        while self.cycle_start(index + 1) <= step:  # mend rounding at exact boundaries
            index += 1
        while index > 0 and self.cycle_start(index) > step:
            index -= 1
        return index

    def at(self, step: float) -> float:
        if self.cycles is not None and step >= self.cycle_start(self.cycles):
            return self.end
        index = self.cycle_of(step)
        length = self.steps * self.mult**index
        local = step - self.cycle_start(index)
        peak = self.decay**index
        return lerp(self.end, peak, (1.0 + math.cos(math.pi * local / length)) / 2.0)

    @property
    def duration(self) -> float | None:
        return None if self.cycles is None else self.cycle_start(self.cycles)


@dataclass(frozen=True, kw_only=True, repr=False)
class OneCycle(Schedule):
    """Smith's one-cycle, with torch's ``OneCycleLR`` timing.

    Rises from ``start`` to 1 until ``t = peak_at * steps - 1``, then falls to ``end`` at
    ``t = steps - 1`` (the last of ``steps`` updates) and stays there. ``three_phase`` falls
    back to ``start`` at ``2 * peak_at * steps - 2`` first, then to ``end``. Each phase is a
    ``shape`` ("cosine" or "linear") interpolation. torch's defaults: ``start = 1/25``,
    ``end = start / 1e4``.

    >>> [round(v, 3) for v in one_cycle(steps=10).values(10)]
    [0.04, 0.52, 1.0, 0.95, 0.812, 0.611, 0.389, 0.188, 0.05, 0.0]
    """

    name = "one_cycle"
    steps: Steps
    peak_at: float = 0.3
    start: float = 0.04
    end: float = 4e-06
    shape: str = "cosine"
    three_phase: bool = False

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        upper = 0.5 if self.three_phase else 1.0
        self.require(0 < self.peak_at < upper, "peak_at", f"in (0, {upper:g}) (a fraction of steps)")
        self.require(self.peak_at * self.steps > 1, "peak_at", "such that peak_at * steps > 1")
        self.require(self.start >= 0, "start", ">= 0")
        self.require(self.end >= 0, "end", ">= 0")
        _choice(self, "shape", ("cosine", "linear"))

    def at(self, step: float) -> float:
        peak = self.peak_at * self.steps - 1.0
        last = self.steps - 1.0
        t = min(step, last)
        if t <= peak:
            return self._anneal(self.start, 1.0, t / peak)
        if not self.three_phase:
            return self._anneal(1.0, self.end, (t - peak) / (last - peak))
        low = 2.0 * peak
        if t <= low:
            return self._anneal(1.0, self.start, (t - peak) / (low - peak))
        return self._anneal(self.start, self.end, (t - low) / (last - low))

    def _anneal(self, a: float, b: float, progress: float) -> float:
        if self.shape == "cosine":
            progress = (1.0 - math.cos(math.pi * progress)) / 2.0
        return lerp(a, b, progress)

    @property
    def duration(self) -> float | None:
        return self.steps


@dataclass(frozen=True, kw_only=True, repr=False)
class Cyclic(Schedule):
    """Smith's cyclical LR: triangles between ``start`` and ``peak``.

    A cycle rises for ``steps_up`` and falls for ``steps_down`` (default: ``steps_up``). The
    height is scaled per mode: ``triangular`` 1, ``triangular2`` ``1 / 2 ** (cycle - 1)``,
    ``exp_range`` ``gamma ** t``.

    >>> cyclic(steps_up=2, start=0.5).values(6)
    [0.5, 0.75, 1.0, 0.75, 0.5, 0.75]
    """

    name = "cyclic"
    steps_up: Steps
    start: float
    steps_down: Steps | None = None
    peak: float = 1.0
    mode: str = "triangular"
    gamma: float = 1.0

    def check(self) -> None:
        self.require(self.steps_up > 0, "steps_up", "> 0")
        self.require(self.steps_down is None or self.steps_down > 0, "steps_down", "> 0")
        self.require(self.start >= 0, "start", ">= 0")
        self.require(self.peak >= 0, "peak", ">= 0")
        _choice(self, "mode", ("triangular", "triangular2", "exp_range"))
        self.require(0 < self.gamma <= 1, "gamma", "in (0, 1]")

    def at(self, step: float) -> float:
        up = self.steps_up
        total = up + (up if self.steps_down is None else self.steps_down)
        ratio = up / total
        cycle = safe_floor(1.0 + step / total)
        x = 1.0 + step / total - cycle
        scale = x / ratio if x <= ratio else (x - 1.0) / (ratio - 1.0)
        if self.mode == "triangular2":
            scale *= 0.5 ** (cycle - 1.0)
        elif self.mode == "exp_range":
            scale *= self.gamma**step
        return self.start + (self.peak - self.start) * scale


@dataclass(frozen=True, kw_only=True, repr=False)
class Wsd(Schedule):
    """Warmup-stable-decay without the warmup (compose one with ``>>``).

    1 until ``steps - decay_steps``, then over ``decay_steps`` to ``end`` by ``shape``:
    ``linear`` ``1 - p``, ``cosine`` ``(1 + cos(pi p)) / 2``, ``1-sqrt`` ``1 - sqrt(p)``
    (each as ``end + (1 - end) * h``), or ``exponential`` ``end ** p``; then ``end``.

    >>> wsd(steps=5, decay_steps=2, end=0.0).values(6)
    [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    name = "wsd"
    steps: Steps
    decay_steps: Steps
    shape: str = "linear"
    end: float

    def check(self) -> None:
        self.require(self.steps > 0, "steps", "> 0")
        self.require(0 < self.decay_steps <= self.steps, "decay_steps", "in (0, steps]")
        _choice(self, "shape", _DECAY_SHAPES)
        self.require(self.end >= 0, "end", ">= 0")
        if self.shape == "exponential":
            self.require(self.end > 0, "end", "> 0 for shape='exponential'")

    def at(self, step: float) -> float:
        progress = (min(step, self.steps) - (self.steps - self.decay_steps)) / self.decay_steps
        if progress <= 0:
            return 1.0
        if self.shape == "exponential":
            return float(self.end**progress)
        return lerp(self.end, 1.0, _decay_height(self.shape, progress))

    @property
    def duration(self) -> float | None:
        return self.steps


def _decay_height(shape: str, progress: float) -> float:
    if shape == "cosine":
        return (1.0 + math.cos(math.pi * progress)) / 2.0
    if shape == "1-sqrt":
        return 1.0 - math.sqrt(progress)
    return 1.0 - progress


@dataclass(frozen=True, kw_only=True, repr=False)
class Piecewise(Schedule):
    """Through ``points = [[step, multiplier], …]``.

    ``interpolate="constant"``: the multiplier of the last point at or before ``t`` (the
    first point's before it). ``"linear"``: straight lines between points, flat outside.

    >>> piecewise(points=[[0, 1.0], [2, 0.5]], interpolate="linear").values(4)
    [1.0, 0.75, 0.5, 0.5]
    """

    name = "piecewise"
    points: tuple[tuple[Steps, float], ...]
    interpolate: str = "constant"

    def check(self) -> None:
        self.require(len(self.points) > 0, "points", "a non-empty list like [[0, 1.0], [10, 0.1]]")
        steps = [point[0] for point in self.points]
        ordered = all(a < b for a, b in pairwise(steps))
        self.require(ordered, "points", "in strictly increasing order of step")
        self.require(all(v >= 0 for _, v in self.points), "points", "multipliers >= 0")
        _choice(self, "interpolate", ("constant", "linear"))

    def at(self, step: float) -> float:
        index = bisect_right(self.points, step, key=lambda point: point[0])
        if index == 0:
            return self.points[0][1]
        left_step, left = self.points[index - 1]
        if self.interpolate == "constant" or index == len(self.points):
            return left
        right_step, right = self.points[index]
        return lerp(left, right, (step - left_step) / (right_step - left_step))

    @property
    def duration(self) -> float | None:
        return self.points[-1][0]


constant = Constant
step = Step
multistep = Multistep
exponential = Exponential
inverse_time = InverseTime
inverse_sqrt = InverseSqrt
polynomial = Polynomial
linear = Linear
cosine = Cosine
cosine_restarts = CosineRestarts
one_cycle = OneCycle
cyclic = Cyclic
wsd = Wsd
piecewise = Piecewise
