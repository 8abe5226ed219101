"""Cut the LR when a metric plateaus, on top of any schedule (so warmup → plateau decay works)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrlab.errors import invalid
from lrlab.train.callbacks import Callback
from lrlab.train.early_stopping import metric_value
from lrlab.train.monitor import Monitor
from lrlab.train.state import Run


class ReduceLROnPlateau(Callback):
    """Multiply the LR by ``factor`` after ``patience`` epochs without improvement.

    The cut multiplies the schedule's value (``lr = base × schedule(t) × cuts``), so it composes
    with any schedule. ``patience=N`` acts after N bad epochs (Keras' count; torch's acts after
    N+1). ``min_delta`` is absolute. After a cut, ``cooldown`` epochs are not counted. The total
    scale never goes below ``min_scale``. Epochs in the ``grace`` period (default: the warmup)
    are not counted either.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_scale: float = 0.0,
        grace: int | None = None,
    ) -> None:
        if not 0 < factor < 1:
            raise invalid("factor", "a number in (0, 1)", factor)
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise invalid(name, "an integer >= 0", value)
        if not 0 <= min_scale <= 1:
            raise invalid("min_scale", "a number in [0, 1]", min_scale)
        self.monitor = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown, self.min_scale = factor, patience, cooldown, min_scale
        self.grace, self.grace_epochs = grace, 0
        self.cooldown_left, self.cuts = 0, 0

    def on_fit_start(self, run: Run) -> None:
        self.monitor = Monitor(self.monitor.metric, self.monitor.mode, self.monitor.min_delta)
        self.cooldown_left, self.cuts = 0, 0
        self.grace_epochs = run.warmup_epochs() if self.grace is None else self.grace

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        epoch = int(metrics["epoch"])
        improved = self.monitor.update(metric_value(metrics, self.monitor.metric), epoch)
        if epoch <= self.grace_epochs or self.cooldown_left > 0:
            self.cooldown_left = max(0, self.cooldown_left - 1)
            self.monitor.wait = 0
            return
        if not improved and self.monitor.wait >= self.patience:
            scale = max(run.state.lr_scale * self.factor, self.min_scale)
            if scale < run.state.lr_scale:
                run.state.lr_scale = scale
                self.cuts += 1
            self.cooldown_left, self.monitor.wait = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "cooldown_left": self.cooldown_left, "cuts": self.cuts}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.cooldown_left, self.cuts = state["cooldown_left"], state["cuts"]
