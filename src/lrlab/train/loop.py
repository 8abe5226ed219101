"""``fit``: the one training loop behind ``lrlab train``, ``find-lr``, ``compare`` and ``tune``.

Read top to bottom: set up the run (resuming from ``checkpoint.pt`` when asked), then per epoch
train on in-memory batches with the LR written from the schedule's closed form before every
update, evaluate, let the callbacks decide, and record.

Under ``torchrun`` (an initialized process group, see :mod:`lrlab.distributed`) the same loop is
data-parallel: the model trains through ``DistributedDataParallel``, each process takes its share
of every batch, evaluation and the training loss are all-reduced, every process sees rank 0's
metrics and stop decision, and only rank 0 runs the callbacks that write files.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional

from lrlab.data import Batches, Data, parse_augment
from lrlab.data.batches import mix_seed
from lrlab.distributed import World, current, device_for
from lrlab.errors import LrlabError, invalid
from lrlab.schedules import Schedule, constant, parse
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import CHECKPOINT, load_run_state
from lrlab.train.logging import Progress
from lrlab.train.state import FitConfig, Run, TrainState

FINITE_CHECK_EVERY = 32  # steps between host syncs that look for a non-finite loss
DROPOUT_STREAM = 2  # data-parallel: each process's global generator, reseeded every epoch


@dataclass(frozen=True)
class FitResult:
    """What a fit produced: per-epoch metrics, why it stopped, and the best epoch."""

    history: tuple[dict[str, float], ...]
    stop_reason: str
    steps: int
    seconds: float

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
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def loss_function(data: Data) -> nn.Module:
    """Cross-entropy for classification, mean squared error for regression."""
    return nn.CrossEntropyLoss() if data.task == "classification" else nn.MSELoss()


@torch.no_grad()
def evaluate(
    model: nn.Module, x: Tensor, y: Tensor, data: Data, batch_size: int, *, world: World | None = None
) -> dict[str, float]:
    """Mean loss and accuracy (or MSE) of ``model`` on ``(x, y)``, in eval mode.

    With a data-parallel ``world``, each process evaluates its part and the sums are all-reduced.
    """
    world = world or World()
    begin, end = part(len(x), world)
    loss_sum, hits, count = world.sum(_sums(model, x[begin:end], y[begin:end], data, batch_size)).tolist()
    loss = loss_sum / max(count, 1)
    return {"loss": loss, "acc": hits / max(count, 1)} if data.task == "classification" else {"loss": loss}


def part(size: int, world: World) -> tuple[int, int]:
    """The contiguous part of ``size`` items that ``world.rank`` takes (sizes differ by one at most)."""
    share, extra = divmod(size, world.size)
    start = world.rank * share + min(world.rank, extra)
    return start, start + share + (1 if world.rank < extra else 0)


def _sums(model: nn.Module, x: Tensor, y: Tensor, data: Data, batch_size: int) -> Tensor:
    """Summed loss, correct predictions and sample count of ``(x, y)`` (float64, one tensor)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device, dtype=torch.float64)
    sums[2] = len(x)
    for start in range(0, len(x), batch_size):
        out = model(x[start : start + batch_size]).float()
        target = y[start : start + batch_size]
        if data.task == "classification":
            sums[0] += functional.cross_entropy(out, target, reduction="sum")
            sums[1] += (out.argmax(dim=1) == target).sum()
        else:
            sums[0] += functional.mse_loss(as_target(out, target), target, reduction="sum")
    model.train(was_training)
    return sums


def _set_lr(optimizer: torch.optim.Optimizer, base_lrs: Sequence[float], multiplier: float) -> None:
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * multiplier


def forward_function(model: nn.Module, device: torch.device, amp: bool) -> Callable[[Tensor], Tensor]:
    """The model, or the model under bf16 autocast (CUDA with ``amp`` only): chosen once per epoch,
    so a step without AMP enters no context at all."""
    if not (amp and device.type == "cuda"):
        return model

    def autocast_forward(x: Tensor) -> Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out: Tensor = model(x)
        return out

    return autocast_forward


def train_epoch(run: Run, batches: Batches, criterion: nn.Module, device: torch.device) -> Tensor:
    """One epoch of updates; returns every step's loss (stops early on a non-finite loss)."""
    model, optimizer, config, world = run.model, run.optimizer, run.config, run.world
    forward = forward_function(run.network or model, device, config.amp)
    model.train()
    losses: list[Tensor] = []
    for index, (x, y) in enumerate(batches.epoch(run.state.epoch)):
        _set_lr(optimizer, run.base_lrs, run.multiplier(run.state.step))
        loss = criterion(as_target(forward(x).float(), y), y)
        optimizer.zero_grad(set_to_none=True)
        weight = batches.weight(index)  # 1 but for an uneven last batch shared by processes
        (loss * weight if weight != 1.0 else loss).backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        run.state.step += 1
        losses.append(loss.detach())
        if index % FINITE_CHECK_EVERY == FINITE_CHECK_EVERY - 1 and world.any(not torch.isfinite(loss)):
            break
    return torch.stack(losses).double()


def as_target(out: Tensor, y: Tensor) -> Tensor:
    """Regression outputs ``(N, 1)`` compare with targets ``(N,)``."""
    return out.reshape(y.shape) if y.is_floating_point() else out


def eval_split(data: Data, device: torch.device) -> tuple[Tensor, Tensor]:
    """The split evaluated each epoch: validation when there is one, else test."""
    if data.x_val is not None and data.y_val is not None:
        return data.x_val.to(device), data.y_val.to(device)
    return data.x_test.to(device), data.y_test.to(device)


def _epoch_metrics(
    run: Run, data: Data, held_out: tuple[Tensor, Tensor], losses: Tensor, seconds: float
) -> dict[str, float]:
    scores = evaluate(run.model, *held_out, data, run.config.eval_batch_size, world=run.world)
    samples = len(data.x_train)
    metrics = {
        "epoch": float(run.state.epoch + 1),
        "step": float(run.state.step),
        "lr": float(run.optimizer.param_groups[0]["lr"]),
        "train_loss": run.world.mean(losses.mean().item()),
        "val_loss": scores["loss"],
    }
    metrics |= {"val_acc": scores["acc"]} if "acc" in scores else {"val_mse": scores["loss"]}
    metrics |= {"time_s": seconds, "samples_per_s": samples / seconds if seconds > 0 else math.inf}
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
    data: Data,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule | str | None = None,
    *,
    config: FitConfig | None = None,
    callbacks: Sequence[Callback] = (),
    run_dir: str | Path | None = None,
    resume: bool = False,
) -> FitResult:
    """Train ``model`` on ``data`` with ``optimizer``, its LR following ``schedule``.

    Each param group's LR before update ``k`` is its base LR × ``schedule(k)`` (or of the
    epoch, with ``config.interval="epoch"``) × any plateau/divergence cuts. With ``resume``,
    the run continues exactly from ``run_dir/checkpoint.pt`` when it exists. Under ``torchrun``
    the fit is data-parallel (see the module docs).
    """
    config = config or FitConfig()
    world = current()
    device = device_for(world, resolve_device(config.device))
    seed_everything(config.seed)
    model.to(device)
    x_train, y_train = data.x_train.to(device, non_blocking=True), data.y_train.to(device, non_blocking=True)
    augment = parse_augment(config.augment) if config.augment else None
    batches = Batches(
        x_train,
        y_train,
        config.batch_size,
        seed=config.seed,
        augment=augment,
        rank=world.rank,
        world_size=world.size,
    )
    base_lrs = [float(group.setdefault("initial_lr", group["lr"])) for group in optimizer.param_groups]
    run = Run(
        model=model,
        optimizer=optimizer,
        schedule=parse(schedule) if schedule is not None else constant(),
        config=config,
        base_lrs=base_lrs,
        steps_per_epoch=len(batches),
        state=TrainState(),
        callbacks=sorted(
            (callback for callback in callbacks if world.main or not callback.writes_files),
            key=lambda callback: callback.order,
        ),
        world=world,
        network=training_module(model, device, world, config.compile),
    )
    held_out = eval_split(data, device)
    criterion = loss_function(data)
    _start(run, Path(run_dir) if run_dir is not None else None, resume)
    began = time.perf_counter()
    with Progress(config.epochs * run.steps_per_epoch, quiet=config.quiet or not world.main) as progress:
        for _ in _epochs(run):
            started = time.perf_counter()
            run.step_losses = train_epoch(run, batches, criterion, device)
            metrics = _epoch_metrics(run, data, held_out, run.step_losses, time.perf_counter() - started)
            _finish_epoch(run, metrics)
            progress.update(run.state.step, _short(run.state.history[-1] if run.state.history else {}))
    for callback in run.callbacks:
        callback.on_fit_end(run)
    reason = run.stop_reason or f"finished {run.state.epoch} epochs"
    return FitResult(tuple(run.state.history), reason, run.state.step, time.perf_counter() - began)


def _epochs(run: Run) -> Iterator[int]:
    while run.state.epoch < run.config.epochs and run.stop_reason is None:
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
    run.stop_reason = run.world.share(run.stop_reason)  # all processes stop together


def _short(metrics: dict[str, float]) -> str:
    shown = [
        f"{key} {metrics[key]:.4g}"
        for key in ("epoch", "train_loss", "val_loss", "val_acc")
        if key in metrics
    ]
    return " · ".join(shown)
