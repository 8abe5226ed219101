"""Suggestions read off a range test's curve: pure functions in a registry, and the default that
combines them with a confidence.

Every method takes a :class:`~lrlab.finder.curve.Curve` and returns a :class:`Suggestion`: an LR,
or ``None`` with the reason. They read the curve's centred trend (see ``curve.py``), from the
first steps to the trend's minimum (the *descent*):

* ``steepest``: where the trend (in loss units) falls fastest per unit of log LR
  (torch-lr-finder's rule, read on a trend without lag).
* ``valley``: fastai's rule: the longest decreasing subsequence of the trend, read a third and
  a sixth of its length in.
* ``minimum``: the LR of the lowest trend, divided by 10 (fastai's ``minimum``).
* ``edge``: the LR where the descent ends, moved back by the sweep's lag: the loss at step ``i``
  is measured before update ``i``, and momentum (SGD's, or Adam's first beta) averages gradients
  over a mean age of ``m / (1 - m)`` updates, so the loss answers the LR of ``1 / (1 - m)``
  rungs earlier. Without the correction a momentum-0.9 sweep on 100 steps reads an LR about 4×
  too high, on the cliff where training dies.
* ``lrlab`` (the default): the highest LR the curve shows to be stable. Where the trend is back
  at its starting level after its lowest point, training failed (:func:`failure`); the default
  reads the step a :func:`margin` before that: two lags (one for the loss to answer, one to
  spare), and never fewer steps than the trend's reach (its centred kernel cannot place the
  failure more finely). It goes no lower than ``edge`` (after a cliff that is where the margin
  lands), and no higher than the lowest loss when the loss never came back to its start (no
  failure seen: no bound). Kept above ``minimum``, with a confidence from how many methods agree
  with it (and how repeated sweeps agree, when asked). See :func:`stable_step`.

A curve without a usable descent (too short, rising from the start, or flat within its noise)
gets no suggestion from any method, and the reason says which and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lrlab.errors import invalid, unknown
from lrlab.finder.curve import Curve
from lrlab.finder.descent import Descent, find_descent

AGREE_FACTOR = 3.0  # a method agrees when its LR is within this factor of the default's
REPEAT_DECADES = 1.0  # repeated sweeps' suggestions spread over this many decades: confidence 0


@dataclass(frozen=True)
class Suggestion:
    """One method's answer: a value (an LR, for LR sweeps) and its step in the sweep, or
    ``None`` with the reason.

    ``confidence`` in [0, 1] is set by the default method (``None`` for single methods).
    """

    method: str
    value: float | None
    index: int | None
    reason: str
    confidence: float | None = None

    @property
    def ok(self) -> bool:
        """Whether there is a suggestion."""
        return self.value is not None


Method = Callable[[Curve], Suggestion]
METHODS: dict[str, Method] = {}


def register(name: str) -> Callable[[Method], Method]:
    """Add a suggestion function to :data:`METHODS` under ``name``."""

    def add(function: Method) -> Method:
        METHODS[name] = function
        return function

    return add


def _at(method: str, curve: Curve, index: int, reason: str, factor: float = 1.0) -> Suggestion:
    return Suggestion(method, curve.values[index] * factor, index, reason)


def _none(method: str, reason: str) -> Suggestion:
    return Suggestion(method, None, None, reason)


@register("steepest")
def steepest(curve: Curve) -> Suggestion:
    """The LR where the trend falls fastest per unit of log LR, within the descent."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return _none("steepest", descent)
    slope = np.gradient(curve.smooth_loss, curve.log_values)
    index = descent.start + int(np.argmin(slope[descent.start : descent.bottom + 1]))
    return _at("steepest", curve, index, "steepest descent of the loss per decade of LR")


@register("valley")
def valley(curve: Curve) -> Suggestion:
    """fastai's valley: the longest decreasing subsequence of the trend within the descent,
    taken as the ``length`` steps before its last element, read at ``len/3 + len/6`` in."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return _none("valley", descent)
    values = descent.trend[descent.start : descent.bottom + 1]
    last, length = _longest_decrease(values)
    first = descent.start + max(last - length, 0)
    sections = (descent.start + last - first) / 3
    index = first + int(sections) + int(sections / 2)
    return _at("valley", curve, index, "a third into the longest decreasing stretch of the loss")


def _longest_decrease(values: np.ndarray) -> tuple[int, int]:
    """The last index of the (first) longest strictly decreasing subsequence, and its length."""
    lengths = [1] * len(values)
    for i in range(1, len(values)):
        earlier = [lengths[j] for j in range(i) if values[j] > values[i]]
        lengths[i] = 1 + max(earlier, default=0)
    last = int(np.argmax(lengths))
    return last, lengths[last]


@register("minimum")
def minimum(curve: Curve) -> Suggestion:
    """The LR of the lowest trend divided by 10."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return _none("minimum", descent)
    return _at("minimum", curve, descent.bottom, "a tenth of the LR of the lowest loss", 0.1)


def lag_rungs(momentum: float) -> int:
    """How many ladder rungs the loss lags the LR: one for measuring before the update, plus
    the mean age ``m / (1 - m)`` of momentum's gradient average."""
    return round(1 / (1 - momentum)) if 0 <= momentum < 1 else 1


@register("edge")
def edge(curve: Curve) -> Suggestion:
    """The LR where the descent ends, ``lag_rungs(momentum)`` rungs back (see the module docs)."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return _none("edge", descent)
    index = max(descent.bottom - lag_rungs(curve.momentum), 0)
    return _at("edge", curve, index, f"end of the descent, {lag_rungs(curve.momentum)} steps back for lag")


def failure(descent: Descent) -> int:
    """The first step at or after the lowest loss where the trend is back at its level at the
    start of the descent (training no better than untrained), or the last step if it never is."""
    later = np.flatnonzero(descent.trend[descent.bottom :] >= descent.trend[descent.start])
    return descent.bottom + int(later[0]) if later.size else len(descent.trend) - 1


def failed(descent: Descent) -> bool:
    """Whether the trend comes back to its level at the start of the descent within the sweep."""
    return bool(descent.trend[failure(descent)] >= descent.trend[descent.start])


def margin(curve: Curve) -> int:
    """Steps the default keeps between the LR it reads and the failure: two lags (the loss answers
    an LR ``lag_rungs`` steps late, and one lag to spare), but never fewer than the trend's reach:
    the centred trend blends each step with ``curve.reach`` steps either side (6 on the default
    sweep), so the step where it is back at its start places the raw loss's failure no more
    precisely than that."""
    return max(2 * lag_rungs(curve.momentum), curve.reach)


def stable_step(curve: Curve, descent: Descent) -> int:
    """The step the default reads: :func:`margin` steps before the :func:`failure`, but no lower
    than ``edge`` (the lowest loss less one lag) and, when the loss never came back to its start
    (no failure seen, so no bound), no higher than the lowest loss.

    After a cliff (back at the start within a lag or two) that is ``edge``; after a plateau the
    loss stopped falling because progress ran out, not because training broke, and the default
    reads as high as the failure allows, above the lowest loss where the plateau is long.
    """
    step = max(failure(descent) - margin(curve), descent.bottom - lag_rungs(curve.momentum))
    if not failed(descent):
        step = min(step, descent.bottom)
    return max(step, 0)


def spread(lrs: Sequence[float]) -> float:
    """Decades between the smallest and the largest of ``lrs`` (0 for fewer than two)."""
    return math.log10(max(lrs) / min(lrs)) if len(lrs) > 1 else 0.0


@register("lrlab")
def default(curve: Curve) -> Suggestion:
    """The default for one sweep: see :func:`combine`."""
    return combine([curve])


def combine(curves: Sequence[Curve]) -> Suggestion:
    """The default suggestion from one sweep or several (the same ladder, other seeds).

    Each sweep's LR is the one at its :func:`stable_step`, no lower than ``minimum``; the
    suggestion is their median (in log LR).
    ``confidence`` is the share of the first sweep's other methods (``steepest``, ``valley``,
    ``minimum``, any registered) that land within a factor of 3 of it, times
    ``1 - spread / 1 decade`` of the sweeps' LRs, halved when the loss was still falling at the
    end of the range.
    """
    if not curves:
        raise invalid("curves", "at least one curve", list(curves))
    descent = find_descent(curves[0])
    if isinstance(descent, str):
        return _none("lrlab", descent)
    picks = [_pick(curve) for curve in curves]
    found = [pick for pick in picks if pick is not None]
    lr = min(max(math.exp(float(np.median(np.log(found)))), min(found)), max(found))  # no round-off
    lrs = [answer.value for answer in _single(curves[0]) if answer.value is not None]
    agree = sum(1 for x in lrs if abs(math.log(x / lr)) <= math.log(AGREE_FACTOR))
    confidence = agree / len(lrs) if lrs else 1.0
    notes = [_reading(curves[0], descent), f"{agree} of {len(lrs)} methods within ×{AGREE_FACTOR:g}"]
    if len(curves) > 1:
        across = spread(found) if len(found) == len(picks) else math.inf
        confidence *= max(0.0, 1.0 - across / REPEAT_DECADES)
        notes.append(
            f"{len(curves)} sweeps within {across:.2f} decades"
            if math.isfinite(across)
            else f"{len(picks) - len(found)} of {len(curves)} sweeps found no descent"
        )
    if not descent.finished_falling:
        confidence /= 2
        notes.append("the loss was still falling at the end: raise the end of the range")
    index = int(np.argmin(np.abs(curves[0].log_values - math.log(lr))))
    return Suggestion("lrlab", lr, index, "; ".join(notes), round(confidence, 3))


def _single(curve: Curve) -> list[Suggestion]:
    """The answers of the methods the default is checked against (all but itself and edge)."""
    return [function(curve) for name, function in METHODS.items() if name not in ("lrlab", "edge")]


def _pick(curve: Curve) -> float | None:
    """One sweep's default LR: the one at its :func:`stable_step`, no lower than ``minimum``."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return None
    return max(curve.values[stable_step(curve, descent)], curve.values[descent.bottom] / 10)


def _reading(curve: Curve, descent: Descent) -> str:
    """How the default read one sweep: the run of low loss after its lowest, the margin, and where
    it read relative to the lowest loss."""
    run = failure(descent) - descent.bottom
    seen = f"back at its start {run}" if failed(descent) else f"below its start all {run}"
    offset = stable_step(curve, descent) - descent.bottom
    side = "above" if offset > 0 else "below"
    plural = "s" * (abs(offset) != 1)
    where = "at the lowest loss" if offset == 0 else f"{abs(offset)} step{plural} {side} the lowest loss"
    return (
        f"loss {seen} steps after its lowest; margin {margin(curve)} steps "
        f"(lag {lag_rungs(curve.momentum)}): read {where}"
    )


def suggest_all(curve: Curve, methods: Sequence[str] | None = None) -> dict[str, Suggestion]:
    """Every method's suggestion (or those named), by name."""
    names = list(METHODS) if methods is None else list(methods)
    for name in names:
        if name not in METHODS:
            raise unknown("suggestion method", name, METHODS)
    return {name: METHODS[name](curve) for name in names}
