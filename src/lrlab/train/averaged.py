"""What the loop does for optimizers that are not plain ``step()``-ers: schedule-free optimizers,
which take gradients at one point and are evaluated at another, and LR-free ones, which estimate
their own LR scale.

**Switching.** An optimizer with ``train()`` and ``eval()`` methods (:class:`Switching`: the
``schedulefree`` package's ``SGDScheduleFree``, ``AdamWScheduleFree``, its wrapper …) keeps the
model's parameters at the gradient point ``y`` while training and moves them to the averaged
point ``x`` when evaluating. :func:`~lrlab.train.fit` calls ``optimizer.train()`` before each
epoch's updates and ``optimizer.eval()`` right after them, so evaluation, the callbacks (early
stopping's best weights, ``best.pt``, ``checkpoint.pt``) and the model ``fit`` returns all see the
averaged weights. A checkpoint therefore holds ``x`` and the optimizer in eval mode, and a resumed
fit switches back exactly as the uninterrupted one does: resume stays bit for bit.

**Batch norm.** Running statistics gathered while training belong to ``y``. When the model has
batch-norm layers that track them, ``optimizer.eval()`` is followed by a recalibration at ``x``:
the statistics are reset and recomputed as a plain average over the last
:data:`RECALIBRATION_BATCHES` training batches of the epoch (kept as they passed, so no data
source is read twice), in train mode under ``no_grad``, with a forked random generator (dropout
in those passes leaves the training stream alone). Under data-parallel training the statistics
are averaged over the processes.

**Effective LR.** :func:`lr_metrics` reads what an optimizer reports in its first param group:
schedule-free's ``scheduled_lr`` (the LR of its last update, its own ``warmup_steps`` ramp
included) and Prodigy's ``d`` (its LR scale; the LR of an update is ``d × lr``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from lrlab.distributed import World
from lrlab.errors import LrlabError

RECALIBRATION_BATCHES = 20  # batch-norm statistics at the averaged weights: a plain mean over these


@runtime_checkable
class Switching(Protocol):
    """An optimizer that must be told when training and evaluation start."""

    def train(self) -> object: ...

    def eval(self) -> object: ...


def switches(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` has ``train()`` / ``eval()`` modes (schedule-free optimizers do)."""
    return isinstance(optimizer, Switching)


def estimates_lr(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` estimates its own LR scale ``d`` (Prodigy, D-Adaptation)."""
    return "d" in optimizer.param_groups[0]


def lr_metrics(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """The LR the optimizer itself reports, beyond the ``lr`` lrlab writes: ``effective_lr`` (and
    Prodigy's ``d``); empty for optimizers that report nothing."""
    group = optimizer.param_groups[0]
    if estimates_lr(optimizer):
        d = float(group["d"])
        return {"d": d, "effective_lr": d * float(group["lr"])}
    if "scheduled_lr" in group:
        return {"effective_lr": float(group["scheduled_lr"])}
    return {}


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's batch-norm layers that keep running statistics."""
    return [
        module
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats
    ]


class Modes:
    """The optimizer's train/eval switching for one fit, with the batch-norm recalibration.

    ``train()`` before an epoch's updates; ``remember(batches)`` around them (it keeps the last
    :data:`RECALIBRATION_BATCHES` only when a recalibration will need them); ``eval()`` after
    them. For an optimizer without modes every call is a no-op.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: Callable[[nn.Module, Any], Tensor],
        world: World,
    ) -> None:
        self.model, self.optimizer, self.loss, self.world = model, optimizer, loss, world
        self.switching: Switching | None = optimizer if isinstance(optimizer, Switching) else None
        self.norms = batch_norms(model) if self.switching is not None else []
        self.kept: deque[Any] = deque(maxlen=RECALIBRATION_BATCHES)

    def train(self) -> None:
        """Parameters to the gradient point, ready for updates."""
        self.kept.clear()
        if self.switching is not None:
            self.switching.train()

    def remember(self, batches: Iterator[tuple[Any, float]]) -> Iterator[tuple[Any, float]]:
        """``batches`` unchanged, the last few kept for the recalibration when there is one."""
        if not self.norms:
            return batches
        return self._keeping(batches)

    def _keeping(self, batches: Iterator[tuple[Any, float]]) -> Iterator[tuple[Any, float]]:
        for batch, weight in batches:
            self.kept.append(batch)
            yield batch, weight

    def eval(self) -> None:
        """Parameters to the averaged point, batch-norm statistics recomputed there."""
        if self.switching is None:
            return
        self.switching.eval()
        if self.norms and self.kept:
            recalibrate(self.model, self.norms, list(self.kept), self.loss, self.world)
        self.kept.clear()


@torch.no_grad()
def recalibrate(
    model: nn.Module,
    norms: list[nn.modules.batchnorm._BatchNorm],
    batches: list[Any],
    loss: Callable[[nn.Module, Any], Tensor],
    world: World,
) -> None:
    """Reset the running statistics of ``norms`` and recompute them as the plain mean over
    ``batches`` (forward passes through ``loss`` in train mode), leaving the model's modes, the
    layers' momenta and the random generators as they were."""
    modes = [module.training for module in model.modules()]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
    device = next(iter(model.parameters())).device
    forked = [device] if device.type == "cuda" else []
    try:
        model.train()
        with torch.random.fork_rng(devices=forked):
            for batch in batches:
                loss(model, batch)
    finally:
        for module, training in zip(model.modules(), modes, strict=True):
            module.training = training
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
    if world.parallel:  # every process evaluates with the same statistics
        for norm in norms:
            for buffer in (norm.running_mean, norm.running_var):
                if buffer is not None:
                    buffer.copy_(world.sum(buffer) / world.size)


def check_lr_sweep(optimizer: torch.optim.Optimizer) -> None:
    """Refuse an LR range test of an optimizer that estimates its own LR scale: its ``lr`` is a
    multiplier of the ``d`` it finds, so a sweep of it has nothing to find."""
    if estimates_lr(optimizer):
        raise LrlabError(
            f"an LR range test of {type(optimizer).__name__} has nothing to find: it estimates its "
            "LR scale d itself; keep lr=1 and, if anything, tune d_coef (0.5 … 2: a smaller or "
            "larger d)."
        )


def sweep_mode(optimizer: torch.optim.Optimizer) -> None:
    """Ready ``optimizer`` for a range test, whose caller restores its state afterwards: a
    schedule-free one goes to train mode (gradients, and the losses the test records, at the
    gradient point ``y``) with its own ``warmup_steps`` off, so each update uses the ladder's value."""
    if isinstance(optimizer, Switching):
        optimizer.train()
    for group in optimizer.param_groups:
        if "warmup_steps" in group and "scheduled_lr" in group:
            group["warmup_steps"] = 0
