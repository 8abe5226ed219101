"""``fit``: the one training loop behind ``lrlab train``, ``find-lr``, ``compare`` and ``tune``.

:func:`fit` reads top to bottom: set up the run (resuming from ``checkpoint.pt`` when asked),
then per epoch train on the task's batches (:mod:`lrlab.train.feed`) with the LR written from the
schedule's closed form before every update (:mod:`lrlab.train.step`), evaluate, let the callbacks
decide (the divergence guard may undo the epoch: a :class:`~lrlab.train.callbacks.Rollback`) and
record, then end. An optimizer with train and eval modes (schedule-free) is switched around each
epoch's updates, so evaluation, callbacks and checkpoints see its averaged weights
(:mod:`lrlab.train.averaged`).

Under ``torchrun`` (an initialized process group, see :mod:`lrlab.distributed`) the same loop is
data-parallel: the model trains through ``DistributedDataParallel``, each process takes its share
of every batch, evaluation and the training loss are all-reduced, every process sees rank 0's
metrics and stop decision, and only rank 0 runs the callbacks that write files.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lrlab.data import Data
from lrlab.data.batches import mix_seed
from lrlab.distributed import current, device_for
from lrlab.errors import LrlabError
from lrlab.schedules import Schedule, constant, parse
from lrlab.task import Evaluate, LossFn, Task, as_task, batch_size_of
from lrlab.torch_bridge import write_lrs
from lrlab.train.averaged import Modes, lr_metrics
from lrlab.train.callbacks import Callback, CallbackList
from lrlab.train.checkpoint import CHECKPOINT, load_run_state
from lrlab.train.feed import Workload, bind
from lrlab.train.logging import Progress
from lrlab.train.state import FitConfig, Run, TrainState
from lrlab.train.step import loss_function, resolve_device, training_module, update
from lrlab.train.stop import Stop

__all__ = [  # resolve_device is lrlab.train.step's, also imported from here (lrlab.commands.find_lr)
    "FitResult", "base_lrs", "epoch_metrics", "fit", "resolve_device", "seed_everything", "train_epoch",
]  # fmt: skip

FINITE_CHECK_EVERY = 32  # steps between host syncs that look for a non-finite loss
DROPOUT_STREAM = 2  # data-parallel: each process's global generator, reseeded every epoch


def fit(
    model: nn.Module,
    data: Data | Task | Iterable[Any],
    optimizer: torch.optim.Optimizer,
    schedule: Schedule | str | None = None,
    *,
    val: Iterable[Any] | None = None,
    loss_fn: LossFn | None = None,
    evaluate: Evaluate | None = None,
    steps_per_epoch: int | None = None,
    config: FitConfig | None = None,
    callbacks: Sequence[Callback] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
) -> FitResult:
    """Train ``model`` on ``data`` with ``optimizer``, its LR following ``schedule``.

    ``data`` is a :class:`~lrlab.data.Data` record, a :class:`~lrlab.task.Task`, or any iterable
    of batches (a ``DataLoader`` …) with the optional ``val`` batches, ``loss_fn``, ``evaluate``
    and ``steps_per_epoch`` of :class:`~lrlab.task.Task`. Each param group's LR before update
    ``k`` is its base LR × ``schedule(k)`` (or of the epoch, with ``config.interval="epoch"``) ×
    any plateau/divergence cuts. With ``resume``, the run continues exactly from
    ``run_dir/checkpoint.pt`` when it exists. Under ``torchrun`` the fit is data-parallel (see
    the module docs).
    """
    # Set up: the task on the device, the counters, the callbacks (and the checkpoint's state).
    source = as_task(data, val=val, loss_fn=loss_fn, evaluate=evaluate, steps_per_epoch=steps_per_epoch)
    config = config or FitConfig()
    world = current()
    device = device_for(world, resolve_device(config.device))
    seed_everything(config.seed)
    model.to(device)
    workload = bind(source, config, device, world)
    if config.steps is not None:  # a budget in updates: as many epochs as it takes
        config = dataclasses.replace(config, epochs=-(-config.steps // workload.steps_per_epoch))
    hooks = CallbackList(callbacks, world)
    run = Run(
        model=model,
        optimizer=optimizer,
        schedule=parse(schedule) if schedule is not None else constant(),
        config=config,
        base_lrs=base_lrs(optimizer),
        steps_per_epoch=workload.steps_per_epoch,
        state=TrainState(),
        callbacks=hooks.callbacks,
        world=world,
        network=training_module(model, device, world, config.compile),
    )
    hooks.fit_start(run)
    _resume(run, Path(run_dir) if run_dir is not None else None, resume)
    modes = Modes(model, optimizer, workload.loss, world)  # schedule-free: train at y, evaluate at x
    began, total = time.perf_counter(), config.steps or config.epochs * run.steps_per_epoch
    try:
        with Progress(total, quiet=config.quiet or not world.main) as bar:
            while run.state.epoch < config.epochs and run.stopped is None:
                if world.parallel:  # each process its own dropout, replayed exactly on resume
                    torch.manual_seed(mix_seed(config.seed, run.state.epoch, DROPOUT_STREAM, world.rank))
                hooks.epoch_start(run)
                started = time.perf_counter()
                run.step_losses, samples = train_epoch(run, workload, device, modes)  # train
                seconds = time.perf_counter() - started
                modes.eval()  # evaluation, callbacks and checkpoints see the averaged weights
                metrics = epoch_metrics(run, workload, run.step_losses, samples, seconds)  # evaluate
                run.state.epoch += 1  # counted before the callbacks: a checkpoint keeps this epoch
                run.state.history.append(metrics)
                rollback = hooks.epoch_end(run, metrics)  # the callbacks decide and record
                if rollback is not None:  # the guard undid the epoch: back to where it began
                    run.restore(rollback.to)
                run.stopped = world.share(run.stopped)  # all processes stop together
                bar.update(run.state.step, _short(run.state.history[-1] if run.state.history else {}))
    except BaseException:
        hooks.fit_failed(run)
        raise
    # End: at the averaged weights (also when no epoch ran), every callback told.
    modes.eval()
    hooks.fit_end(run)
    stop = run.stopped or Stop("finished", f"finished {run.state.epoch} epochs")
    return FitResult(tuple(run.state.history), stop, run.state.step, time.perf_counter() - began)


@dataclass(frozen=True)
class FitResult:
    """What a fit produced: per-epoch metrics, why it stopped, and the best epoch."""

    history: tuple[dict[str, float], ...]
    stop: Stop
    steps: int
    seconds: float

    @property
    def stop_reason(self) -> str:
        """Why the fit stopped, in words."""
        return self.stop.detail

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's metrics (empty when no epoch finished)."""
        return self.history[-1] if self.history else {}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def base_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each param group's base LR: its ``initial_lr`` (a scheduler's, or an earlier fit's), else
    its ``lr``, which becomes its ``initial_lr`` (a tensor is copied: the LRs written later must
    not change the base)."""
    bases = []
    for group in optimizer.param_groups:
        if "initial_lr" not in group:
            lr = group["lr"]
            group["initial_lr"] = lr.clone() if isinstance(lr, Tensor) else lr
        bases.append(float(group["initial_lr"]))
    return bases


def _resume(run: Run, run_dir: Path | None, resume: bool) -> None:
    """Load ``run_dir``'s checkpoint into ``run`` when resuming and there is one."""
    checkpoint = None if run_dir is None else run_dir / CHECKPOINT
    if resume and checkpoint is not None and run.world.share(checkpoint.exists()):
        if not checkpoint.exists():
            raise LrlabError(
                f"process {run.world.rank} cannot see {checkpoint}, which rank 0 resumes from; "
                "the run directory must be on storage every process shares."
            )
        load_run_state(checkpoint, run)
    elif resume and run_dir is None:
        raise LrlabError("resume=True needs the run directory that holds checkpoint.pt.")


def train_epoch(
    run: Run, workload: Workload, device: torch.device, modes: Modes | None = None
) -> tuple[Tensor, int]:
    """One epoch of updates; returns every step's loss (stops early on a non-finite loss) and the
    samples this process trained on. ``modes`` switches an optimizer that has a train mode (see
    :mod:`lrlab.train.averaged`) and keeps the batches a batch-norm recalibration needs."""
    model, optimizer, config, world = run.model, run.optimizer, run.config, run.world
    loss_of = loss_function(workload.loss, run.network or model, device, config.amp)
    modes = modes or Modes(model, optimizer, workload.loss, world)
    model.train()
    modes.train()
    losses: list[Tensor] = []
    samples = 0
    for index, (batch, weight) in enumerate(modes.remember(workload.batches(run.state.epoch))):
        if config.steps is not None and run.state.step >= config.steps:
            break
        write_lrs(optimizer, run.base_lrs, run.multiplier(run.state.step))
        (loss,) = update(model, optimizer, [(batch, weight)], loss_of=loss_of, grad_clip=config.grad_clip)
        run.state.step += 1
        losses.append(loss)
        samples += batch_size_of(batch)
        if index % FINITE_CHECK_EVERY == FINITE_CHECK_EVERY - 1 and world.any(not torch.isfinite(loss)):
            break
    if not losses:
        raise LrlabError(
            f"epoch {run.state.epoch + 1} had no training batches; give data that yields batches."
        )
    return torch.stack(losses).double(), samples


def epoch_metrics(
    run: Run, workload: Workload, losses: Tensor, samples: int, seconds: float
) -> dict[str, float]:
    """The metrics of the epoch that just trained: counters, LRs, the training loss (the mean of
    its step ``losses``), the held-out scores and the throughput — rank 0's, on every process."""
    metrics = {
        "epoch": float(run.state.epoch + 1),
        "step": float(run.state.step),
        "lr": float(run.optimizer.param_groups[0]["lr"]),
        **lr_metrics(run.optimizer),  # the LR the optimizer reports: Prodigy's d × lr, …
        "train_loss": run.world.mean(losses.mean().item()),
    }
    if workload.scores is not None:
        metrics |= {f"val_{key}": value for key, value in workload.scores(run.model).items()}
    total = float(run.world.sum(torch.tensor([float(samples)])).item()) if run.world.parallel else samples
    metrics |= {"time_s": seconds, "samples_per_s": total / seconds if seconds > 0 else math.inf}
    return dict(run.world.share(metrics))  # every process decides on rank 0's numbers


def _short(metrics: dict[str, float]) -> str:
    shown = [
        f"{key} {metrics[key]:.4g}"
        for key in ("epoch", "train_loss", "val_loss", "val_acc")
        if key in metrics
    ]
    return " · ".join(shown)
