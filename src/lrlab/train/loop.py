"""``fit``: the one training loop behind ``lrlab train``, ``find-lr``, ``compare`` and ``tune``.

Read top to bottom: set up the run (resuming from ``checkpoint.pt`` when asked), then per epoch
train on the task's batches (:mod:`lrlab.train.feed`: in-memory ``Batches`` for a ``Data``
record, any iterable for a user's ``Task``) with the LR written from the schedule's closed form before every
update, evaluate, let the callbacks decide, and record. An optimizer with train and eval modes
(schedule-free) is switched around each epoch's updates, so evaluation, callbacks and checkpoints
see its averaged weights (:mod:`lrlab.train.averaged`).

Under ``torchrun`` (an initialized process group, see :mod:`lrlab.distributed`) the same loop is
data-parallel: the model trains through ``DistributedDataParallel``, each process takes its share
of every batch, evaluation and the training loss are all-reduced, every process sees rank 0's
metrics and stop decision, and only rank 0 runs the callbacks that write files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from lrlab.data import Data
from lrlab.data.batches import mix_seed
from lrlab.distributed import World, current, device_for
from lrlab.errors import LrlabError, invalid
from lrlab.schedules import Schedule, constant, parse
from lrlab.task import Evaluate, LossFn, Task, as_task, batch_size_of
from lrlab.train.averaged import Modes, lr_metrics
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import CHECKPOINT, load_run_state
from lrlab.train.feed import Workload, bind
from lrlab.train.logging import Progress
from lrlab.train.state import FitConfig, Run, TrainState
from lrlab.train.stop import Stop

FINITE_CHECK_EVERY = 32  # steps between host syncs that look for a non-finite loss
DROPOUT_STREAM = 2  # data-parallel: each process's global generator, reseeded every epoch


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


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise invalid("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", name) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise invalid("device", "a device this machine has", name, "Use device='auto' or 'cpu'.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise invalid("device", "a device this machine has (no Apple MPS here)", name, "Use 'auto' or 'cpu'.")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _set_lr(optimizer: torch.optim.Optimizer, base_lrs: Sequence[float], multiplier: float) -> None:
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * multiplier


def loss_function(
    loss: LossFn, network: nn.Module, device: torch.device, amp: bool
) -> Callable[[Any], Tensor]:
    """The loss of a batch through ``network``, under bf16 autocast on CUDA with ``amp``: chosen
    once per epoch, so a step without AMP enters no context at all."""
    if not (amp and device.type == "cuda"):
        return lambda batch: loss(network, batch)

    def autocast_loss(batch: Any) -> Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return loss(network, batch).float()

    return autocast_loss


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
        _set_lr(optimizer, run.base_lrs, run.multiplier(run.state.step))
        loss = loss_of(batch)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss * weight if weight != 1.0 else loss)  # weight: uneven DP batch
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        run.state.step += 1
        losses.append(loss.detach())
        samples += batch_size_of(batch)
        if index % FINITE_CHECK_EVERY == FINITE_CHECK_EVERY - 1 and world.any(not torch.isfinite(loss)):
            break
    if not losses:
        raise LrlabError(
            f"epoch {run.state.epoch + 1} had no training batches; give data that yields batches."
        )
    return torch.stack(losses).double(), samples


def _epoch_metrics(
    run: Run, workload: Workload, losses: Tensor, samples: int, seconds: float
) -> dict[str, float]:
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


def _start(run: Run, run_dir: Path | None, resume: bool) -> None:
    for callback in run.callbacks:
        callback.on_fit_start(run)
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


def training_module(model: nn.Module, device: torch.device, world: World, compile: bool) -> nn.Module:
    """The module that trains: ``model``, under ``DistributedDataParallel`` for several processes,
    through ``torch.compile`` when asked."""
    network = model
    if world.parallel:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return cast(nn.Module, torch.compile(network)) if compile else network


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
    source = as_task(data, val=val, loss_fn=loss_fn, evaluate=evaluate, steps_per_epoch=steps_per_epoch)
    config = config or FitConfig()
    world = current()
    device = device_for(world, resolve_device(config.device))
    seed_everything(config.seed)
    model.to(device)
    workload = bind(source, config, device, world)
    if config.steps is not None:  # a budget in updates: as many epochs as it takes
        config = dataclasses.replace(config, epochs=-(-config.steps // workload.steps_per_epoch))
    base_lrs = [float(group.setdefault("initial_lr", group["lr"])) for group in optimizer.param_groups]
    run = Run(
        model=model,
        optimizer=optimizer,
        schedule=parse(schedule) if schedule is not None else constant(),
        config=config,
        base_lrs=base_lrs,
        steps_per_epoch=workload.steps_per_epoch,
        state=TrainState(),
        callbacks=sorted(
            (callback for callback in callbacks if world.main or not callback.writes_files),
            key=lambda callback: callback.order,
        ),
        world=world,
        network=training_module(model, device, world, config.compile),
    )
    _start(run, Path(run_dir) if run_dir is not None else None, resume)
    modes = Modes(model, optimizer, workload.loss, world)  # schedule-free: train at y, evaluate at x
    began = time.perf_counter()
    total = config.steps or config.epochs * run.steps_per_epoch
    try:
        with Progress(total, quiet=config.quiet or not world.main) as progress:
            for _ in _epochs(run):
                started = time.perf_counter()
                run.step_losses, samples = train_epoch(run, workload, device, modes)
                seconds = time.perf_counter() - started
                modes.eval()  # evaluation, callbacks and checkpoints see the averaged weights
                _finish_epoch(run, _epoch_metrics(run, workload, run.step_losses, samples, seconds))
                progress.update(run.state.step, _short(run.state.history[-1] if run.state.history else {}))
    except BaseException:
        _end_callbacks_after_error(run)
        raise
    modes.eval()  # also when no epoch ran: the fit ends at the averaged weights
    for callback in run.callbacks:
        callback.on_fit_end(run)
    stop = run.stopped or Stop("finished", f"finished {run.state.epoch} epochs")
    return FitResult(tuple(run.state.history), stop, run.state.step, time.perf_counter() - began)


def _end_callbacks_after_error(run: Run) -> None:
    """A failed fit still ends its callbacks (the checkpoint releases the run directory's lock),
    without letting their own trouble hide the error."""
    for callback in run.callbacks:
        with contextlib.suppress(Exception):
            callback.on_fit_end(run)


def _epochs(run: Run) -> Iterator[int]:
    while run.state.epoch < run.config.epochs and run.stopped is None:
        if run.world.parallel:  # each process its own dropout, replayed exactly on resume
            torch.manual_seed(mix_seed(run.config.seed, run.state.epoch, DROPOUT_STREAM, run.world.rank))
        for callback in run.callbacks:
            callback.on_epoch_start(run)
        yield run.state.epoch


def _finish_epoch(run: Run, metrics: dict[str, float]) -> None:
    run.state.epoch += 1
    run.state.history.append(metrics)
    for callback in run.callbacks:
        callback.on_epoch_end(run, metrics)
        if run.rolled_back:  # the divergence guard restored the state before this epoch
            run.rolled_back = False
            break
    run.stopped = run.world.share(run.stopped)  # all processes stop together


def _short(metrics: dict[str, float]) -> str:
    shown = [
        f"{key} {metrics[key]:.4g}"
        for key in ("epoch", "train_loss", "val_loss", "val_acc")
        if key in metrics
    ]
    return " · ".join(shown)
