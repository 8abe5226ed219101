"""The usable part of a range test's curve: from the first steps to the trend's lowest point (the
*descent*), or the reason there is none — what every suggestion method reads first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrlab.finder.curve import Curve, noise

MIN_POINTS = 8  # fewer finite losses than this is no curve
MIN_DROP = 0.01  # the descent must lower the loss by at least 1% (in log units) ...
NOISE_DROPS = 3.0  # ... and by more than 3 per-step noise deviations


@dataclass(frozen=True)
class Descent:
    """The usable part of a curve: from ``start`` to ``bottom`` (the trend's minimum)."""

    start: int
    bottom: int
    trend: np.ndarray
    finished_falling: bool

    @property
    def indices(self) -> range:
        """The steps of the descent."""
        return range(self.start, self.bottom + 1)


def find_descent(curve: Curve) -> Descent | str:
    """The curve's descent, or the reason there is none usable."""
    n = len(curve)
    if n < MIN_POINTS:
        return (
            f"no reliable suggestion: only {n} finite losses before the sweep diverged; "
            "lower the start of the range"
        )
    trend, start = curve.smooth, curve.skip
    bottom = start + int(np.argmin(trend[start:]))
    needed = max(MIN_DROP, NOISE_DROPS * noise(curve.losses))
    rise = float(np.max(trend[start:]) - trend[bottom])
    if bottom <= start + 1 and rise >= needed:  # a flat curve's bottom is anywhere: noise, below
        return (
            f"no reliable suggestion: the loss rose from the first LRs ({curve.values[0]:.3g} on); "
            "lower the start of the range"
        )
    drop = float(trend[start] - trend[bottom])
    if drop < needed:
        return (
            f"no reliable suggestion: the loss fell by {drop:.3g} (log) over the range, within its "
            f"noise ({needed:.3g}); widen the range or check the model and data"
        )
    return Descent(start, bottom, trend, finished_falling=bottom < n - 3)
