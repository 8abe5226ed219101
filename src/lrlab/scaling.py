"""The learning rate for a larger global batch (Goyal et al. 2017).

With ``k = global batch / reference batch``, the ``linear`` rule multiplies the LR by ``k`` (SGD),
``sqrt`` by ``√k`` (adaptive methods), ``none`` leaves it. When the LR goes up, a gradual warmup
ramps it per optimizer step from the reference LR to the scaled one over ``warmup_epochs``
(Goyal et al. use 5): the multiplier ``1/factor → 1`` is applied on top of the schedule, which
keeps its own course (its time is not shifted). A warmup longer than the run is cut to the run.

>>> scaled = resolve("linear", lr=0.1, batch_size=64, world_size=4, steps_per_epoch=10, epochs=20)
>>> scaled.factor, scaled.lr, scaled.warmup_steps, scaled.warmup_start
(4.0, 0.4, 50, 0.25)

:class:`LrScaling` holds what :func:`resolve` made of the rule for one run; :class:`ScalingRule` is
the rule alone, applied to each trial's batch size by ``lrlab tune --lr-scaling``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lrlab.errors import invalid
from lrlab.schedules import Schedule, warmup

Rule = Literal["none", "linear", "sqrt"]
RULES: tuple[Rule, ...] = ("none", "linear", "sqrt")
WARMUP_EPOCHS = 5.0


def lr_factor(rule: str, batch_size: int, reference: int) -> float:
    """What the LR is multiplied by at ``batch_size`` under ``rule`` from ``reference``."""
    if rule not in RULES:
        raise invalid("lr_scaling", "'none', 'linear' or 'sqrt'", rule)
    ratio = batch_size / reference
    return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]


@dataclass(frozen=True)
class ScalingRule:
    """Batch-size-aware LR: ``rule`` "linear" or "sqrt" from the ``reference`` batch size."""

    rule: Literal["linear", "sqrt"]
    reference: int

    def __post_init__(self) -> None:
        if self.rule not in ("linear", "sqrt"):
            raise invalid("--lr-scaling", "'linear' or 'sqrt'", self.rule)
        if isinstance(self.reference, bool) or not isinstance(self.reference, int) or self.reference < 1:
            raise invalid("--reference-batch-size", "an integer >= 1", self.reference)

    def factor(self, batch_size: int) -> float:
        """What the LR is multiplied by at ``batch_size`` (:func:`lr_factor`)."""
        return lr_factor(self.rule, batch_size, self.reference)


@dataclass(frozen=True)
class LrScaling:
    """The resolved values of one run, as ``config.json`` records them."""

    rule: str
    reference_batch_size: int
    global_batch_size: int
    factor: float
    base_lr: float
    lr: float
    warmup_epochs: float
    warmup_steps: int
    warmup_start: float

    def ramp(self) -> Schedule | None:
        """The per-step warmup multiplier laid over the schedule (none when the LR did not grow)."""
        return warmup(steps=self.warmup_steps, start=self.warmup_start) if self.warmup_steps else None

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict of the values."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the terminal."""
        if self.factor == 1.0:
            return f"lr {self.base_lr:g} (global batch {self.global_batch_size}, lr-scaling {self.rule})"
        ramp = (
            f", warmup {self.warmup_steps} steps ({self.warmup_epochs:g} epochs) from {self.base_lr:g}"
            if self.warmup_steps
            else ""
        )
        return (
            f"lr {self.base_lr:g} → {self.lr:g} (×{self.factor:g}, {self.rule}: global batch "
            f"{self.global_batch_size} / reference {self.reference_batch_size}){ramp}"
        )


def resolve(
    rule: str,
    *,
    lr: float,
    batch_size: int,
    world_size: int,
    steps_per_epoch: int,
    epochs: int,
    reference: int | None = None,
    warmup_epochs: float = WARMUP_EPOCHS,
) -> LrScaling:
    """The LR and warmup of ``world_size`` processes with ``batch_size`` samples each.

    ``reference`` is the batch size ``lr`` was chosen for (default: ``batch_size``, one process).
    """
    reference = batch_size if reference is None else reference
    if isinstance(reference, bool) or not isinstance(reference, int) or reference < 1:
        raise invalid("reference_batch_size", "an integer >= 1", reference)
    if not warmup_epochs >= 0:
        raise invalid("scaling_warmup_epochs", "a number >= 0", warmup_epochs)
    global_batch = batch_size * world_size
    factor = lr_factor(rule, global_batch, reference)
    steps = 0
    if factor > 1.0:
        steps = min(round(warmup_epochs * steps_per_epoch), epochs * steps_per_epoch)
    return LrScaling(
        rule=rule,
        reference_batch_size=reference,
        global_batch_size=global_batch,
        factor=factor,
        base_lr=lr,
        lr=lr * factor,
        warmup_epochs=steps / steps_per_epoch,
        warmup_steps=steps,
        warmup_start=1.0 / factor if steps else 1.0,
    )
