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
* ``lrlab`` (the default): the safe side of the curve. No higher than a third of the LR of the
  lowest loss (the sweep saw each LR for a step or two; a whole training at the LR where the loss
  stopped falling is on the cliff's edge), and no higher than twice the LR of the steepest fall
  in the two decades below the lowest loss (with Adam-family optimizers and transformers the
  loss goes on falling far past the LRs a long training tolerates). A confidence from how many
  methods agree with it; when it is low the default leans lower still (:data:`LEAN`). See
  :func:`safe_lr`.

A curve without a usable descent (too short, rising from the start, or flat within its noise)
gets no suggestion from any method, and the reason says which and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lrlab.errors import invalid, unknown
from lrlab.finder.curve import Curve, default_width, trend
from lrlab.finder.descent import Descent, find_descent

AGREE_FACTOR = 3.0  # a method agrees when its LR is within this factor of the default's
REPEAT_DECADES = 1.0  # repeated sweeps' suggestions spread over this many decades: confidence 0
BELOW_LOWEST = 3.0  # the default reads no higher than the LR of the lowest loss / 3 ...
ABOVE_STEEPEST = 2.0  # ... and no higher than 2 × the LR of the steepest fall near it
NEAR_DECADES = 2.0  # "near": within this many decades below the lowest loss
STEEP_WIDTH = 2.0  # the slope is read on a trend this many times wider than the default one
SPIKE = 0.05  # a rise of the trend (log loss; loss units if some loss is <= 0) this far above
# its lowest so far is a loss spike ...
SETTLED = 0.5  # ... once the loss has fallen this share of its whole drop
LOW_CONFIDENCE = 0.25  # below this confidence the default leans lower ...
LEAN = 2.0  # ... by this factor


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
    index = steepest_index(curve, curve.smooth_loss, descent.start, descent.bottom)
    return _at("steepest", curve, index, "steepest descent of the loss per decade of LR")


def steepest_index(curve: Curve, loss: np.ndarray, first: int, last: int) -> int:
    """The step in ``first … last`` where ``loss`` falls fastest per unit of log LR."""
    slope = np.gradient(loss, curve.log_values)
    return first + int(np.argmin(slope[first : last + 1]))


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
    lag = lag_rungs(curve.momentum)
    return _at("edge", curve, index, f"end of the descent, {lag} step{'s' * (lag != 1)} back for lag")


def settled_bottom(descent: Descent) -> int:
    """The lowest point of the trend before its first loss spike: a rise of more than
    :data:`SPIKE` (log loss, about 5 %) above its lowest so far, once it has fallen
    :data:`SETTLED` of its whole drop (the noise of the first steps is not a spike). A loss that
    spikes and then falls further (transformers with Adam do) broke at the spike; the lower loss
    after it is not a stable LR. Without a spike: the descent's bottom."""
    trend = descent.trend[descent.start : descent.bottom + 1]
    lowest = np.minimum.accumulate(trend)
    level = trend[0] - SETTLED * (trend[0] - trend[-1])
    spikes = np.flatnonzero((lowest <= level) & (trend - lowest > SPIKE))
    if not spikes.size:
        return descent.bottom
    return descent.start + int(np.argmin(trend[: spikes[0] + 1]))


def peak_step(curve: Curve, descent: Descent) -> int:
    """The highest step the sweep showed still helping: :func:`settled_bottom` moved back
    ``lag_rungs(momentum)`` for the loss's lag (as ``edge`` is). The peak of a recommended cycle
    goes no higher: with momentum 0.9 the lowest loss sits about 4× above it on a 100-step sweep."""
    return max(settled_bottom(descent) - lag_rungs(curve.momentum), 0)


def near_steepest(curve: Curve, descent: Descent) -> int:
    """The step of the steepest fall within :data:`NEAR_DECADES` below the lowest loss, read on a
    trend :data:`STEEP_WIDTH` times wider than the default (less moved by noise). Further down
    a curve may have an earlier, separate fall (a new head learning before a pretrained body
    moves) that says nothing about the LR the whole model takes."""
    wide = trend(curve.losses, STEEP_WIDTH * default_width(len(curve)))
    loss = np.exp(wide) if bool(np.all(np.asarray(curve.losses) > 0)) else wide
    bottom = settled_bottom(descent)
    lowest = curve.log_values[bottom]
    first = max(descent.start, int(np.searchsorted(curve.log_values, lowest - NEAR_DECADES * math.log(10))))
    return steepest_index(curve, loss, first, bottom)


def safe_lr(curve: Curve, descent: Descent) -> float:
    """One sweep's default LR: the lower of the lowest loss's LR / :data:`BELOW_LOWEST` and
    :data:`ABOVE_STEEPEST` × the LR of :func:`near_steepest`.

    The sweep holds each LR for a step or two, so where its loss is lowest a whole training is
    on the cliff's edge; a third of it is the classic base LR of a range test. With adaptive
    optimizers the loss can keep falling a decade and more past what a long training tolerates:
    there the steepest fall, which marks the fastest progress per step, is the tighter bound.
    """
    steep = curve.values[near_steepest(curve, descent)]
    return min(curve.values[settled_bottom(descent)] / BELOW_LOWEST, ABOVE_STEEPEST * steep)


def spread(lrs: Sequence[float]) -> float:
    """Decades between the smallest and the largest of ``lrs`` (0 for fewer than two)."""
    return math.log10(max(lrs) / min(lrs)) if len(lrs) > 1 else 0.0


@register("lrlab")
def default(curve: Curve) -> Suggestion:
    """The default for one sweep: see :func:`combine`."""
    return combine([curve])


def combine(curves: Sequence[Curve]) -> Suggestion:
    """The default suggestion from one sweep or several (the same ladder, other seeds).

    Each sweep's LR is its :func:`safe_lr`; the suggestion is their median (in log LR).
    ``confidence`` is the share of the first sweep's other methods (``steepest``, ``valley``,
    ``minimum``, any registered) that land within a factor of 3 of it, times
    ``1 - spread / 1 decade`` of the sweeps' LRs, halved when the loss was still falling at the
    end of the range. Below :data:`LOW_CONFIDENCE` the suggestion leans lower by :data:`LEAN`:
    when the curve cannot tell, the costly mistake is the high one.
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
    if confidence < LOW_CONFIDENCE:
        lr /= LEAN
        notes.append(f"low confidence: leaning lower, ÷{LEAN:g}")
    index = int(np.argmin(np.abs(curves[0].log_values - math.log(lr))))
    return Suggestion("lrlab", lr, index, "; ".join(notes), round(confidence, 3))


def _single(curve: Curve) -> list[Suggestion]:
    """The answers of the methods the default is checked against (all but itself and edge)."""
    return [function(curve) for name, function in METHODS.items() if name not in ("lrlab", "edge")]


def _pick(curve: Curve) -> float | None:
    """One sweep's default LR (:func:`safe_lr`), or ``None`` without a descent."""
    descent = find_descent(curve)
    return None if isinstance(descent, str) else safe_lr(curve, descent)


def _reading(curve: Curve, descent: Descent) -> str:
    """How the default read one sweep: which bound decided, and any loss spike."""
    settled = settled_bottom(descent)
    lowest = curve.values[settled]
    steep = curve.values[near_steepest(curve, descent)]
    if lowest / BELOW_LOWEST <= ABOVE_STEEPEST * steep:
        reading = f"the lowest loss's LR ({lowest:.3g}) ÷ {BELOW_LOWEST:g}"
    else:
        reading = (
            f"the steepest fall's LR ({steep:.3g}) × {ABOVE_STEEPEST:g}, "
            f"below the lowest loss's ({lowest:.3g}) ÷ {BELOW_LOWEST:g}"
        )
    if settled != descent.bottom:
        reading += f" (a loss spike after {lowest:.3g}; lower again at {curve.values[descent.bottom]:.3g})"
    return reading


def suggest_all(curve: Curve, methods: Sequence[str] | None = None) -> dict[str, Suggestion]:
    """Every method's suggestion (or those named), by name."""
    names = list(METHODS) if methods is None else list(methods)
    for name in names:
        if name not in METHODS:
            raise unknown("suggestion method", name, METHODS)
    return {name: METHODS[name](curve) for name in names}
