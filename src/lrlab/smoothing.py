"""The one smoothing and the one divergence rule of a loss, shared by the range test (its curve and
its stop) and the training loop's divergence guard.

* :class:`Ema`: the debiased exponential moving average of fastai and Lightning,
  ``avg_n / (1 - beta ** n)`` with ``avg_n = beta avg_(n-1) + (1 - beta) loss_n``.
* :class:`Divergence`: a loss diverges when it is not finite, or when its EMA exceeds
  ``threshold`` × the best EMA so far, read as ``best + (threshold - 1) |best|`` so that a negative
  loss cannot fool it. The first ``burn_in`` losses never count (the EMA is noisy there); the
  callers keep their own numbers (the sweep 4 steps, the guard 10).

Plain Python, no torch: the range test's curve reads it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


class Ema:
    """The debiased exponential moving average of the values given to :meth:`add`.

    >>> average = Ema(beta=0.5)
    >>> [round(average.add(v), 3) for v in (1.0, 2.0, 3.0)]
    [1.0, 1.667, 2.429]
    """

    def __init__(self, beta: float) -> None:
        self.beta, self.average, self.count = beta, 0.0, 0

    def add(self, value: float) -> float:
        """Take ``value`` in; return the debiased average so far."""
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * value
        return self.average / (1 - self.beta**self.count)


def ema(values: Iterable[float], beta: float = 0.98) -> list[float]:
    """The debiased EMA after each of ``values``.

    >>> [round(v, 3) for v in ema([1.0, 2.0, 3.0], beta=0.5)]
    [1.0, 1.667, 2.429]
    """
    average = Ema(beta)
    return [average.add(value) for value in values]


class Divergence:
    """The divergence rule (see the module docs), fed one loss at a time.

    Args:
        beta: the EMA factor.
        threshold: a multiple (> 1) of the best smoothed loss that counts as divergence.
        burn_in: losses at the start that never count as a divergence by the EMA (a loss that is
            not finite always does).
    """

    def __init__(self, *, beta: float, threshold: float, burn_in: int) -> None:
        self.threshold, self.burn_in = threshold, burn_in
        self.ema, self.best = Ema(beta), math.inf

    def __call__(self, loss: float) -> tuple[float, str | None]:
        """The smoothed loss after ``loss`` (``nan`` for a loss that is not finite, which is not
        taken in) and why it diverged, or ``None``."""
        if not math.isfinite(loss):
            return math.nan, f"loss {loss}"
        smoothed = self.ema.add(loss)
        self.best = min(self.best, smoothed)
        if self.ema.count > self.burn_in and smoothed - self.best > (self.threshold - 1) * abs(self.best):
            return smoothed, f"smoothed loss {smoothed:.4g} > {self.threshold:g} × best {self.best:.4g}"
        return smoothed, None

    def state_dict(self) -> dict[str, Any]:
        """The running average, its count and the best smoothed loss."""
        return {"average": self.ema.average, "count": self.ema.count, "best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.ema.average, self.ema.count, self.best = state["average"], state["count"], state["best"]
