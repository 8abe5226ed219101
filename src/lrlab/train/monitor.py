"""``Monitor``: is a metric improving? Shared by early stopping, plateau cuts and ``best.pt``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrlab.errors import invalid

MODES = ("min", "max", "auto")


def resolve_mode(monitor: str, mode: str) -> str:
    """``auto`` means ``max`` for accuracy-like metrics and ``min`` otherwise."""
    if mode not in MODES:
        raise invalid("mode", "one of 'min', 'max', 'auto'", mode)
    if mode != "auto":
        return mode
    return "max" if any(word in monitor for word in ("acc", "auc", "f1", "score")) else "min"


@dataclass
class Monitor:
    """Tracks the best value of ``metric``; an improvement beats the best by more than ``min_delta``.

    ``baseline``: values not better than it never count as improvements (Keras' semantics).
    ``wait`` counts the evaluations since the last improvement.
    """

    metric: str = "val_loss"
    mode: str = "auto"
    min_delta: float = 0.0
    baseline: float | None = None
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0

    def __post_init__(self) -> None:
        self.mode = resolve_mode(self.metric, self.mode)
        if not 0 <= self.min_delta < math.inf:
            raise invalid("min_delta", "a finite number >= 0", self.min_delta)

    def better(self, value: float, than: float) -> bool:
        """Whether ``value`` beats ``than`` by more than ``min_delta``."""
        if self.mode == "min":
            return value < than - self.min_delta
        return value > than + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` at ``epoch``; return whether it is an improvement."""
        beats_best = self.best is None or self.better(value, self.best)
        beats_baseline = self.baseline is None or self.better(value, self.baseline)
        if math.isfinite(value) and beats_best and beats_baseline:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        """The fields a checkpoint keeps."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
