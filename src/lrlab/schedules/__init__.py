"""Learning-rate schedules as pure functions of the step count.

Vocabulary (used everywhere in lrlab):

* ``step``: the 0-based count of the interval — optimizer updates, or epochs when a schedule is
  stepped per epoch. A schedule maps it to a **multiplier** of each param group's base LR.
* ``steps``: a duration, in the same unit. ``every``: a period. ``milestones``/``points``:
  moments in time.
* ``start``, ``peak``, ``end``: multipliers (fractions of the base LR), never absolute LRs.

Spec strings (parsed safely, printed canonically by ``str``)::

    warmup(steps=5, start=0.0) >> cosine(steps=15, end=0.0333)
    multistep(milestones=[15, 30], gamma=0.5)
    inverse_sqrt(offset=1)
    exponential(gamma=0.96, every=10000, staircase=true)
    wsd(steps=1000, decay_steps=100, shape="cosine", end=0.0)
    scale(cosine_restarts(steps=10, mult=2.0), factor=0.9, add=0.1)

A spec is one call or several joined by ``>>`` (each part runs for its ``steps``; the next one
sees time from its own start). Arguments are keywords; values are numbers, ``true``/``false``,
``none``, quoted strings, lists, or (for ``scale``/``floor``) a schedule given first. The
families, their formulas and the presets that mirror torch, Hugging Face, Keras and timm are in
docs/schedules.md. ``rescale(schedule, factor)`` stretches a schedule in time.
"""

from lrlab.schedules.base import FAMILIES, Join, Schedule
from lrlab.schedules.compose import (
    Floor,
    Scale,
    Skip,
    Take,
    Warmup,
    floor,
    join,
    scale,
    skip,
    take,
    warmup,
)
from lrlab.schedules.families import (
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    Exponential,
    InverseSqrt,
    InverseTime,
    Linear,
    Multistep,
    OneCycle,
    Piecewise,
    Polynomial,
    Step,
    Wsd,
    constant,
    cosine,
    cosine_restarts,
    cyclic,
    exponential,
    inverse_sqrt,
    inverse_time,
    linear,
    multistep,
    one_cycle,
    piecewise,
    polynomial,
    step,
    wsd,
)
from lrlab.schedules.spec import parse, signature
from lrlab.schedules.timing import map_steps, rescale

__all__ = [
    "FAMILIES",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Cyclic",
    "Exponential",
    "Floor",
    "InverseSqrt",
    "InverseTime",
    "Join",
    "Linear",
    "Multistep",
    "OneCycle",
    "Piecewise",
    "Polynomial",
    "Scale",
    "Schedule",
    "Skip",
    "Step",
    "Take",
    "Warmup",
    "Wsd",
    "constant",
    "cosine",
    "cosine_restarts",
    "cyclic",
    "exponential",
    "floor",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "linear",
    "map_steps",
    "multistep",
    "one_cycle",
    "parse",
    "piecewise",
    "polynomial",
    "rescale",
    "scale",
    "signature",
    "skip",
    "step",
    "take",
    "warmup",
    "wsd",
]
