"""The divergence guard: on a non-finite loss or a spike, go back, cut the LR, and retry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from lrlab.errors import invalid
from lrlab.train.callbacks import Callback
from lrlab.train.state import Run


class DivergenceGuard(Callback):
    """Watch every step's loss; when an epoch diverges, restore the state before it and retry.

    Divergence is a non-finite loss, or a smoothed loss (debiased EMA, ``beta``) above
    ``threshold`` × the best smoothed loss so far. Each retry multiplies the LR by ``cut``; after
    ``retries`` retries the fit stops with the reason, on the last good weights.
    """

    order = 0

    def __init__(
        self, *, threshold: float = 4.0, cut: float = 0.5, retries: int = 3, beta: float = 0.98
    ) -> None:
        if not threshold > 1:
            raise invalid("threshold", "a number > 1", threshold)
        if not 0 < cut < 1:
            raise invalid("cut", "a number in (0, 1)", cut)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise invalid("retries", "an integer >= 0", retries)
        if not 0 <= beta < 1:
            raise invalid("beta", "a number in [0, 1)", beta)
        self.threshold, self.cut, self.retries, self.beta = threshold, cut, retries, beta
        self.retried, self.average, self.count, self.best = 0, 0.0, 0, math.inf
        self._before: dict[str, Any] | None = None

    def on_fit_start(self, run: Run) -> None:
        self.retried, self.average, self.count, self.best = 0, 0.0, 0, math.inf

    def on_epoch_start(self, run: Run) -> None:
        self._before = {"run": run.snapshot(), "guard": self.state_dict()}

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        losses = run.step_losses
        problem = None if losses is None else self._scan(losses.tolist())
        if problem is None or self._before is None:
            return
        run.restore(self._before["run"])
        run.rolled_back = True
        self.load_state_dict({**self._before["guard"], "retried": self.retried})
        if self.retried >= self.retries:
            run.stop(
                "diverged",
                f"diverged in epoch {int(metrics['epoch'])}: {problem}; gave up after {self.retried} retries"
            )
            return
        self.retried += 1
        run.state.lr_scale *= self.cut

    def _scan(self, losses: list[float]) -> str | None:
        for index, loss in enumerate(losses):
            if not math.isfinite(loss):
                return f"loss {loss} at step {index + 1} of the epoch"
            self.count += 1
            self.average = self.beta * self.average + (1 - self.beta) * loss
            smoothed = self.average / (1 - self.beta**self.count)
            if smoothed > self.threshold * self.best and self.count > 10:
                return f"smoothed loss {smoothed:.4g} > {self.threshold:g} × best {self.best:.4g}"
            self.best = min(self.best, smoothed)
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"retried": self.retried, "average": self.average, "count": self.count, "best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.retried, self.average = state["retried"], state["average"]
        self.count, self.best = state["count"], state["best"]


def is_finite(loss: torch.Tensor) -> bool:
    """Whether a loss tensor is finite (one host sync)."""
    return bool(torch.isfinite(loss).all())
