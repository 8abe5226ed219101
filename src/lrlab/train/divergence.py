"""The divergence guard: on a non-finite loss or a spike, go back, cut the LR, and retry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lrlab.errors import invalid
from lrlab.smoothing import Divergence
from lrlab.train.callbacks import Callback, Rollback
from lrlab.train.state import Run

BURN_IN = 10  # losses of the fit before a spike of the smoothed loss counts


class DivergenceGuard(Callback):
    """Watch every step's loss; when an epoch diverges, undo it and retry.

    Divergence is a non-finite loss, or a smoothed loss (debiased EMA, ``beta``) above
    ``threshold`` × the best smoothed loss so far, after the fit's first 10 losses (the rule of
    :mod:`lrlab.smoothing`). The guard then returns a :class:`~lrlab.train.callbacks.Rollback` to
    the state before the epoch, and multiplies the LR by ``cut``; after ``retries`` retries the
    fit stops with the reason, on the last good weights.
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
        self.retried, self.watch = 0, self._watch()
        self._before: dict[str, Any] | None = None

    def _watch(self) -> Divergence:
        return Divergence(beta=self.beta, threshold=self.threshold, burn_in=BURN_IN)

    def on_fit_start(self, run: Run) -> None:
        self.retried, self.watch = 0, self._watch()

    def on_epoch_start(self, run: Run) -> None:
        self._before = {"run": run.snapshot(), "guard": self.state_dict()}

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> Rollback | None:
        losses = run.step_losses
        problem = None if losses is None else self._scan(losses.tolist())
        if problem is None or self._before is None:
            return None
        self.load_state_dict({**self._before["guard"], "retried": self.retried})
        if self.retried >= self.retries:
            run.stop(
                "diverged",
                f"diverged in epoch {int(metrics['epoch'])}: {problem}; gave up after {self.retried} retries",
            )
        else:
            self.retried += 1
            run.state.lr_scale *= self.cut  # a rollback keeps the LR scale: the cut stays
        return Rollback(self._before["run"], problem)

    def _scan(self, losses: list[float]) -> str | None:
        for index, loss in enumerate(losses):
            _, problem = self.watch(loss)
            if problem is not None:
                return problem if math.isfinite(loss) else f"{problem} at step {index + 1} of the epoch"
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"retried": self.retried, **self.watch.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.retried = state["retried"]
        self.watch.load_state_dict(state)
