"""A schedule's values in steps, changed all at once: :func:`map_steps` and :func:`rescale`.

Which values are in steps is what :func:`~lrlab.schedules.base.field_kinds` says: durations,
periods, milestones, the step of each ``piecewise`` point, and the same in every schedule nested
in a combinator (``warmup``, ``>>``, ``scale``, ``floor``, ``skip``, ``take``). Multipliers and
counts (``cycles``) stay as they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import cast

from lrlab.errors import invalid
from lrlab.schedules.base import Schedule, field_kinds
from lrlab.schedules.kinds import Kind, walk


def map_steps(schedule: Schedule, change: Callable[[float], float]) -> Schedule:
    """``schedule`` with ``change(value)`` in place of every value in steps, nested schedules
    included; the result is checked and normalized like any new schedule."""

    def visit(kind: Kind, value: object) -> object:
        if kind is Kind.STEPS:
            return change(cast(float, value))  # fields are checked at construction
        if kind is Kind.SCHEDULE:
            return map_steps(cast(Schedule, value), change)
        return value

    kinds = field_kinds(type(schedule))
    changes = {name: walk(kind, getattr(schedule, name), visit) for name, kind in kinds.items()}
    return dataclasses.replace(schedule, **changes)


def rescale(schedule: Schedule, factor: float) -> Schedule:
    """``schedule`` stretched ``factor`` times in time: every value in steps times ``factor``.

    ``rescale(s, k)(k * t) == s(t)`` for the families whose shape depends on ratios of steps
    only: not ``inverse_sqrt`` (``(t + offset) ** -0.5``), ``one_cycle`` (its last step is
    ``steps - 1``) or ``cyclic(mode="exp_range")`` (``gamma`` per step).

    >>> rescale(piecewise(points=[[0, 1.0], [100, 0.1]]), 2)
    piecewise(points=[[0, 1.0], [200, 0.1]])
    >>> rescale(warmup(steps=10, start=0.1) >> cosine(steps=90), 0.5)
    warmup(steps=5, start=0.1) >> cosine(steps=45)
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < math.inf:
        raise invalid("factor", "a finite number > 0", factor)
    return map_steps(schedule, lambda steps: steps * factor)
