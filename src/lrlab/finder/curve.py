"""The loss curve of a range test and the two smoothings its readers use.

* :func:`~lrlab.smoothing.ema` is the debiased exponential moving average of fastai and Lightning
  (the one :mod:`lrlab.smoothing` shares with the sweep's stop and the training guard). It is causal,
  so the sweep can stop on it, but it lags: with ``beta=0.98`` a value is on average 49 steps old,
  which on a 100-step ladder over six decades is three decades of LR. Reading suggestions off it
  moves them to larger LRs.
* :func:`trend` is what the suggestions read: a centred Gaussian smoothing of the log loss, with
  no lag, computed after the sweep. The log keeps a blow-up from swamping its neighbours.
  Being centred, it blends each step with its neighbours up to :func:`reach` steps away on both
  sides: it cannot tell apart events closer than that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def default_width(points: int) -> float:
    """The default kernel width of :func:`trend` for a curve of ``points`` losses: ``max(1, n/50)``
    steps (2 on the default 100-step sweep)."""
    return max(1.0, points / 50)


def reach(points: int, sigma: float | None = None) -> int:
    """How many steps either side :func:`trend` averages over: its kernel is cut at 3 widths."""
    return max(1, math.ceil(3 * (sigma if sigma is not None else default_width(points))))


def trend(losses: Sequence[float], width: float | None = None) -> Array:
    """Centred Gaussian smoothing of ``log(loss)`` (of the loss itself when some loss is <= 0).

    ``width``: the kernel's standard deviation in steps (default ``max(1, n / 50)``). The kernel is
    cut at 3 widths and renormalized at the ends, so the ends are not pulled towards zero.
    Non-finite losses must be removed first.
    """
    values = np.asarray(losses, dtype=np.float64)
    if len(values) == 0:
        return values
    logged = np.log(values) if bool(np.all(values > 0)) else values
    sigma = width if width is not None else default_width(len(values))
    cut = reach(len(values), sigma)
    offsets = np.arange(-cut, cut + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    # "full" then cut: mode="same" returns the kernel's length when a short sweep stopped early
    weighted = np.convolve(logged, kernel, mode="full")[cut : cut + len(values)]
    norm = np.convolve(np.ones_like(logged), kernel, mode="full")[cut : cut + len(values)]
    result: Array = weighted / norm
    return result


def noise(losses: Sequence[float]) -> float:
    """Robust per-step noise of ``log(loss)``: the MAD of first differences, scaled to a std."""
    values = np.asarray(losses, dtype=np.float64)
    if len(values) < 3:
        return 0.0
    logged = np.log(values) if bool(np.all(values > 0)) else values
    steps = np.diff(logged)
    return float(1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2))


@dataclass(frozen=True)
class Curve:
    """What suggestion functions read: the values swept (LRs), the raw losses (finite prefix),
    and their :func:`trend`. ``momentum``: the optimizer's momentum (SGD's, or Adam's first beta;
    0 when it has none), which some suggestions correct for.
    """

    values: tuple[float, ...]
    losses: tuple[float, ...]
    momentum: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float], losses: Sequence[float], momentum: float = 0.0) -> Curve:
        """A curve cut at the first non-finite loss (what comes after it is not a loss curve)."""
        finite = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), len(losses))
        return cls(tuple(map(float, values[:finite])), tuple(map(float, losses[:finite])), float(momentum))

    def __len__(self) -> int:
        return len(self.losses)

    @property
    def log_values(self) -> Array:
        """``log`` of the values (LRs are swept on a log scale)."""
        return np.log(np.asarray(self.values, dtype=np.float64))

    @property
    def smooth(self) -> Array:
        """The :func:`trend` of the losses."""
        return trend(self.losses)

    @property
    def smooth_loss(self) -> Array:
        """The trend in loss units (``exp`` of :attr:`smooth` when it is a log)."""
        smooth = self.smooth
        positive = bool(np.all(np.asarray(self.losses) > 0))
        result: Array = np.exp(smooth) if positive else smooth
        return result

    @property
    def reach(self) -> int:
        """Steps either side that the :attr:`smooth` trend blends together (see :func:`reach`)."""
        return reach(len(self))

    @property
    def skip(self) -> int:
        """Steps left out at the start, where the smoothing has the fewest neighbours."""
        return min(max(2, len(self) // 20), max(len(self) - 3, 0))
