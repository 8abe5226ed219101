"""Keras 3 ``keras.optimizers.schedules`` classes as lrlab schedules, value for value."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from lrlab.errors import unknown
from lrlab.schedules.base import Schedule
from lrlab.schedules.dialects._common import Args, affine, chain, ramp
from lrlab.schedules.families import (
    cosine,
    cosine_restarts,
    exponential,
    inverse_time,
    piecewise,
    polynomial,
)

# A builder returns the schedule as multipliers of the class's natural base LR, and that base.
_Builder = Callable[[Args], tuple[Schedule, float]]


def from_keras(class_name: str, /, *, lr: float | None = None, **config: object) -> Schedule:
    """The Keras 3 schedule ``class_name(**config)`` as multipliers of ``lr``.

    Keras schedules give absolute LRs at ``optimizer.iterations`` (from 0). ``lr`` defaults to
    the natural base: ``initial_learning_rate``, ``warmup_target`` when ``CosineDecay`` warms
    up, ``values[0]`` for ``PiecewiseConstantDecay``. ``config`` may be ``get_config()``'s
    output (its ``name`` is ignored). Classes (exact names, as Keras has them):

    * ``CosineDecay(initial_learning_rate, decay_steps, alpha=0, warmup_target=None,
      warmup_steps=0)``: linear warmup from ``initial_learning_rate`` to ``warmup_target`` (only
      when that is given), then a cosine to ``alpha`` × peak, **clamped** after ``decay_steps``.
    * ``CosineDecayRestarts(initial_learning_rate, first_decay_steps, t_mul=2, m_mul=1,
      alpha=0)``: restarts at the boundary; ``alpha`` is *not* scaled by ``m_mul``.
    * ``ExponentialDecay`` / ``InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate,
      staircase=False)``: ``rate ** (s / D)`` / ``1 / (1 + rate * s / D)``.
    * ``PiecewiseConstantDecay(boundaries, values)``: a boundary belongs to the **left** piece
      (``values[1]`` from ``boundaries[0] + 1``); integer boundaries, as the step is an integer.
    * ``PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate=1e-4, power=1,
      cycle=False)``: clamped at ``end_learning_rate``, or a sawtooth with ``cycle``.

    >>> from_keras("PiecewiseConstantDecay", boundaries=[1], values=[0.2, 0.1]).values(3)
    [1.0, 1.0, 0.5]
    """
    build = _CLASSES.get(class_name)
    if build is None:
        raise unknown("Keras schedule", class_name, _CLASSES)
    args = Args(f"from_keras({class_name!r})", config, (*_CONFIG[class_name], "name"))
    schedule, natural = build(args)
    if lr is None:
        return schedule
    return affine(schedule, factor=natural / args.base_lr(lr))


def _base(args: Args, param: str) -> float:
    """A natural base LR: the multipliers are relative to it, so it must be > 0."""
    value = args.number(param)
    args.require(value > 0, param, "> 0", "lrlab schedules are multipliers of this LR.")
    return value


def _steps(args: Args, param: str) -> float:
    value = args.number(param)
    args.require(value > 0, param, "> 0")
    return value


def _staircase(args: Args) -> bool:
    return args.flag("staircase", False)


def _cosine_decay(args: Args) -> tuple[Schedule, float]:
    steps, alpha = _steps(args, "decay_steps"), args.number("alpha", 0.0)
    args.require(alpha >= 0, "alpha", ">= 0 (a fraction of the peak LR)")
    decay = cosine(steps=steps, end=alpha)
    if args.given.get("warmup_target") is None:
        return decay, _base(args, "initial_learning_rate")
    target, initial = _base(args, "warmup_target"), args.number("initial_learning_rate")
    args.require(initial >= 0, "initial_learning_rate", ">= 0")
    warmup_steps = args.number("warmup_steps", 0)
    args.require(warmup_steps >= 0, "warmup_steps", ">= 0")
    head = ramp(warmup_steps, initial / target) if warmup_steps > 0 else None
    return chain(head, decay), target


def _cosine_decay_restarts(args: Args) -> tuple[Schedule, float]:
    steps = _steps(args, "first_decay_steps")
    t_mul, m_mul = args.number("t_mul", 2.0), args.number("m_mul", 1.0)
    alpha = args.number("alpha", 0.0)
    args.require(t_mul >= 1, "t_mul", ">= 1", "Shrinking cycles are not expressible in lrlab.")
    args.require(0 < m_mul <= 1, "m_mul", "in (0, 1]", "Growing peaks are not expressible in lrlab.")
    args.require(0 <= alpha <= 1, "alpha", "in [0, 1] (a fraction of initial_learning_rate)")
    cycles = cosine_restarts(steps=steps, mult=t_mul, decay=m_mul)
    return affine(cycles, factor=1 - alpha, add=alpha), _base(args, "initial_learning_rate")


def _exponential_decay(args: Args) -> tuple[Schedule, float]:
    rate = args.number("decay_rate")
    args.require(0 < rate <= 1, "decay_rate", "in (0, 1]", "A growing LR is not expressible in lrlab.")
    every = _steps(args, "decay_steps")
    schedule = exponential(gamma=rate, every=every, staircase=_staircase(args))
    return schedule, _base(args, "initial_learning_rate")


def _inverse_time_decay(args: Args) -> tuple[Schedule, float]:
    rate = args.number("decay_rate")
    args.require(rate >= 0, "decay_rate", ">= 0")
    every = _steps(args, "decay_steps")
    schedule = inverse_time(rate=rate, every=every, staircase=_staircase(args))
    return schedule, _base(args, "initial_learning_rate")


def _piecewise_constant_decay(args: Args) -> tuple[Schedule, float]:
    boundaries, values = args.numbers("boundaries", integer=True), args.numbers("values")
    args.require(len(values) == len(boundaries) + 1, "values", "one longer than boundaries")
    increasing = all(a < b for a, b in pairwise(boundaries))
    args.require(boundaries[0] >= 0 and increasing, "boundaries", "strictly increasing integers >= 0")
    args.require(values[0] > 0, "values", "a list whose first LR is > 0 (the base of the multipliers)")
    args.require(min(values) >= 0, "values", "LRs >= 0")
    starts = [0, *(boundary + 1 for boundary in boundaries)]  # step b still has the left value
    points = tuple((start, value / values[0]) for start, value in zip(starts, values, strict=True))
    return piecewise(points=points), values[0]


def _polynomial_decay(args: Args) -> tuple[Schedule, float]:
    initial, steps = _base(args, "initial_learning_rate"), _steps(args, "decay_steps")
    end, power = args.number("end_learning_rate", 0.0001), args.number("power", 1.0)
    args.require(end >= 0, "end_learning_rate", ">= 0")
    args.require(power > 0, "power", "> 0")
    cycle = args.flag("cycle", False)
    return polynomial(steps=steps, power=power, end=end / initial, cycle=cycle), initial


_CLASSES: dict[str, _Builder] = {
    "CosineDecay": _cosine_decay,
    "CosineDecayRestarts": _cosine_decay_restarts,
    "ExponentialDecay": _exponential_decay,
    "InverseTimeDecay": _inverse_time_decay,
    "PiecewiseConstantDecay": _piecewise_constant_decay,
    "PolynomialDecay": _polynomial_decay,
}

_DECAY = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")
_CONFIG: dict[str, tuple[str, ...]] = {
    "CosineDecay": ("initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps"),
    "CosineDecayRestarts": ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha"),
    "ExponentialDecay": _DECAY,
    "InverseTimeDecay": _DECAY,
    "PiecewiseConstantDecay": ("boundaries", "values"),
    "PolynomialDecay": ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle"),
}
