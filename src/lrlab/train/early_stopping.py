"""Early stopping with best-weights restore and a warmup grace period."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lrlab.errors import invalid
from lrlab.train.callbacks import Callback
from lrlab.train.monitor import Monitor
from lrlab.train.state import Run


def metric_value(metrics: Mapping[str, float], name: str) -> float:
    """``metrics[name]``, or an error listing the metrics there are."""
    if name not in metrics:
        raise invalid("monitor", "one of " + ", ".join(sorted(metrics)), name)
    return metrics[name]


def copy_weights(run: Run) -> dict[str, torch.Tensor]:
    """A detached copy of the model's weights and buffers."""
    return {key: value.detach().clone() for key, value in run.model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    ``patience=N`` stops after N epochs without improvement (Keras, Lightning and fastai count
    this way; torch's ``ReduceLROnPlateau`` acts after N+1). An improvement beats the best by
    more than ``min_delta`` and, with ``baseline``, beats the baseline too. Epochs within the
    ``grace`` period (default: the schedule's warmup, in epochs) never count as bad.
    ``restore_best_weights`` (on by default) loads the best epoch's weights when the fit ends,
    whether or not it stopped early.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        min_delta: float = 0.0,
        patience: int = 5,
        baseline: float | None = None,
        restore_best_weights: bool = True,
        grace: int | None = None,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise invalid("patience", "an integer >= 0", patience)
        if grace is not None and (not isinstance(grace, int) or grace < 0):
            raise invalid("grace", "an integer >= 0 (or none for the warmup length)", grace)
        self.monitor = Monitor(monitor, mode, min_delta, baseline)
        self.patience, self.restore_best_weights, self.grace = patience, restore_best_weights, grace
        self.grace_epochs = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, run: Run) -> None:
        self.monitor = Monitor(
            self.monitor.metric, self.monitor.mode, self.monitor.min_delta, self.monitor.baseline
        )
        self.best_weights = None
        self.grace_epochs = run.warmup_epochs() if self.grace is None else self.grace

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        epoch = int(metrics["epoch"])
        improved = self.monitor.update(metric_value(metrics, self.monitor.metric), epoch)
        if improved and self.restore_best_weights:
            self.best_weights = copy_weights(run)
        if epoch <= self.grace_epochs:
            self.monitor.wait = 0
        if not improved and self.monitor.wait >= self.patience:
            best = self.monitor.best
            shown = "none" if best is None else f"{best:.4g} at epoch {self.monitor.best_epoch}"
            run.stop(
                "early-stopped",
                f"early-stopped at epoch {epoch}: {self.monitor.metric} did not improve for "
                f"{self.monitor.wait} epochs (best {shown})",
            )

    def on_fit_end(self, run: Run) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            run.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "best_weights": self.best_weights}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.best_weights = state["best_weights"]
