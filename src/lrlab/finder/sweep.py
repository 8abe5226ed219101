"""The range test's ladder and its run: train with a rising hyperparameter, record the loss,
stop on divergence, and always put everything back.

The run uses ``fit``'s pieces: the same workload (:mod:`lrlab.train.feed`: a ``Data`` record's
in-memory batches seeded the same way, augmentation off unless asked, or a user ``Task``'s own),
the same step (:mod:`lrlab.train.step`) and LR writer (:func:`lrlab.torch_bridge.write_lrs`), and
the divergence rule of :mod:`lrlab.smoothing`. It writes the ladder's value into every param group
before each update (for the LR, each group keeps its ratio to the optimizer's base LR), so param
groups with LR multipliers sweep together.

Whatever happens (a finished ladder, a divergence, an exception, Ctrl-C), the model's weights and
buffers, the optimizer's state and param groups, the model's train/eval mode and the Python,
NumPy and torch random generators and the parameters' gradients are restored bit for bit in a
``try/finally`` (:mod:`lrlab.finder.restore`).

Under ``torchrun`` the sweep is data-parallel as ``fit`` is: each process takes its share of
every batch (``batch_size`` per process), gradients are averaged by ``DistributedDataParallel``,
and the loss recorded at each step is the all-reduced mean, so every process sees the same curve,
stops at the same step and makes the same suggestion, for the global batch.

Optimizers beyond torch's (:mod:`lrlab.train.averaged`): an LR test of one that estimates its own
LR scale (Prodigy) is refused with the reason — its ``lr`` only multiplies the ``d`` it finds. A
schedule-free optimizer is swept in train mode with its own ``warmup_steps`` off: the losses are
those at the gradient point ``y`` (the averaged weights are never evaluated during a sweep), and
the suggestion is a starting point for its LR, which its authors find can be larger than with a
schedule (SGD 10-50×, AdamW 1-10×).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from lrlab.data import Data
from lrlab.distributed import World, current, device_for
from lrlab.errors import LrlabError, invalid
from lrlab.finder.hyperparameter import Hyperparameter, check_param, set_param
from lrlab.finder.restore import restore, save
from lrlab.smoothing import Divergence
from lrlab.task import Task
from lrlab.train.averaged import sweep_mode
from lrlab.train.feed import Scores, Workload, bind
from lrlab.train.step import loss_function, resolve_device, training_module, update
from lrlab.train.stop import Stop

BURN_IN = 4  # steps of a sweep before a spike of the smoothed loss counts
ADAPTIVE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.Adagrad)


@dataclass(frozen=True)
class Sweep:
    """The values a range test tries, one per step, from ``start`` to ``end`` inclusive.

    ``mode="exp"``: ``start * (end / start) ** (i / (steps - 1))``; ``"linear"``: evenly spaced.

    >>> [round(v, 6) for v in Sweep(1e-3, 1.0, steps=4).values()]
    [0.001, 0.01, 0.1, 1.0]
    """

    start: float
    end: float
    steps: int = 100
    mode: Literal["exp", "linear"] = "exp"

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 2:
            raise invalid("steps", "an integer >= 2", self.steps)
        if self.mode not in ("exp", "linear"):
            raise invalid("mode", "'exp' or 'linear'", self.mode)
        low = 0.0 if self.mode == "linear" else math.ulp(0.0)
        for name in ("start", "end"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
                kind = "a finite number >= 0" if self.mode == "linear" else "a finite number > 0"
                raise invalid(name, kind, value)
        if not self.end > self.start:
            raise invalid("end", f"greater than start={self.start!r}", self.end)

    def values(self) -> list[float]:
        """The ladder, ``steps`` values with both endpoints."""
        last = self.steps - 1
        if self.mode == "linear":
            return [self.start + (self.end - self.start) * i / last for i in range(self.steps)]
        ratio = self.end / self.start
        return [self.start * ratio ** (i / last) for i in range(self.steps)]


def is_adaptive(optimizer: torch.optim.Optimizer) -> bool:
    """Adam-family and other per-parameter adaptive optimizers (their useful LRs are smaller); an
    optimizer of another package counts when it has Adam's ``betas`` (schedule-free AdamW)."""
    return isinstance(optimizer, ADAPTIVE) or "betas" in optimizer.defaults


SWEEP_SAMPLES = 12_800  # a default sweep sees at least this many samples (100 batches of 128) ...
MAX_SWEEP_STEPS = 1_000  # ... in at most this many steps


def default_steps(batch_size: int | None) -> int:
    """Steps of a default sweep: 100, more for batches under 128, so that it sees 12,800 samples
    (up to 1,000 steps). A sweep of 100 batches of 16 is too short for many models to show any
    learning before the LR is too high; ``None`` (batches of unknown size): 100.

    >>> default_steps(128), default_steps(16), default_steps(1), default_steps(None)
    (100, 800, 1000, 100)
    """
    if batch_size is None:
        return 100
    return max(100, min(MAX_SWEEP_STEPS, math.ceil(SWEEP_SAMPLES / batch_size)))


def default_sweep(optimizer: torch.optim.Optimizer, param: Hyperparameter = "lr", steps: int = 100) -> Sweep:
    """The ladder used when none is given, by optimizer family and hyperparameter.

    LR: ``1e-6 → 1`` for adaptive optimizers (Adam's good LRs sit near 1e-3 and it blows up
    around 0.1-1), ``1e-5 → 10`` for SGD (good LRs near 0.01-0.3). Weight decay ``1e-6 → 0.1``
    (exponential); momentum ``0.5 → 0.99`` (linear).
    """
    if param == "weight_decay":
        return Sweep(1e-6, 0.1, steps)
    if param == "momentum":
        return Sweep(0.5, 0.99, steps, mode="linear")
    return Sweep(1e-6, 1.0, steps) if is_adaptive(optimizer) else Sweep(1e-5, 10.0, steps)


@dataclass(frozen=True)
class SweepConfig:
    """Settings of one range-test run.

    ``divergence``: stop when the smoothed loss exceeds this multiple of the best smoothed loss
    from the fifth step on (or a loss is not finite): the rule of :mod:`lrlab.smoothing`.
    ``beta``: the EMA factor of the smoothing (debiased).
    ``accumulation``: micro-batches per update (gradients averaged). ``validation``: record the
    loss on the validation split after every update (Smith's original test; slow) instead of the
    training batch's loss. ``augment``: an augmentation spec (off by default: the test measures
    the optimization, not the regularization).
    """

    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    beta: float = 0.98
    divergence: float = 4.0
    accumulation: int = 1
    amp: bool = False
    grad_clip: float | None = None
    validation: bool = False
    augment: str | None = None
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        for name in ("batch_size", "accumulation", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise invalid(name, "an integer >= 1", value)
        if not 0 <= self.beta < 1:
            raise invalid("beta", "a number in [0, 1)", self.beta)
        if not self.divergence > 1:
            raise invalid(
                "divergence", "a number > 1 (a multiple of the best smoothed loss)", self.divergence
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise invalid("grad_clip", "a number > 0 (or None)", self.grad_clip)


@dataclass(frozen=True)
class Trace:
    """What one run recorded: the values tried, raw and smoothed losses, and how it stopped
    (``stop``: ``diverged`` when the divergence rule stopped it, else ``finished``)."""

    param: Hyperparameter
    values: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    stop: Stop
    seconds: float

    @property
    def stop_reason(self) -> str:
        """Why the run stopped, in words."""
        return self.stop.detail


def run_sweep(
    model: nn.Module,
    data: Data | Task,
    optimizer: torch.optim.Optimizer,
    sweep: Sweep,
    *,
    param: Hyperparameter = "lr",
    config: SweepConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Trace:
    """Train ``model`` for ``sweep.steps`` updates on ``data`` (a ``Data`` record or a
    :class:`~lrlab.task.Task`), the ``param`` of ``optimizer`` following the ladder, and record
    the losses; restore every state afterwards, whatever happens.

    ``progress(done, total)`` is called after each step (``total`` is ``sweep.steps``; a sweep
    that diverges stops calling it early): a command line draws its bar from it.

    The model is moved to the config's device (as ``fit`` does); its values come back exactly.
    """
    config = config or SweepConfig()
    param = check_param(optimizer, param)
    world = current()
    device = device_for(world, resolve_device(config.device))
    model.to(device)
    saved = save(model, optimizer)
    try:
        workload = bind(data, config, device, world)
        return _sweep(
            model, workload, optimizer, sweep, param=param, config=config, device=device, world=world,
            progress=progress,
        )  # fmt: skip
    finally:
        restore(model, optimizer, saved)


def _batches(workload: Workload) -> Iterator[tuple[Any, float]]:
    """The workload's batches with this process's loss weight, epoch after epoch, for as long as
    the sweep needs them."""
    for epoch in itertools.count():
        yield from workload.batches(epoch)


def _sweep(
    model: nn.Module,
    workload: Workload,
    optimizer: torch.optim.Optimizer,
    sweep: Sweep,
    *,
    param: Hyperparameter,
    config: SweepConfig,
    device: torch.device,
    world: World,
    progress: Callable[[int, int], None] | None = None,
) -> Trace:
    began = time.perf_counter()
    torch.manual_seed(config.seed)  # dropout draws the same masks as a fit with this seed would
    base = float(optimizer.defaults.get("lr", optimizer.param_groups[0]["lr"]))
    # a scheduler's warmup may have scaled the groups' LRs; their ratios are those of the base LRs
    ratios = [float(group.get("initial_lr", group["lr"])) / base for group in optimizer.param_groups]
    network = training_module(model, device, world, compile=False)
    loss_of = loss_function(workload.loss, network, device, config.amp)
    held_out = _held_out(workload) if config.validation else None
    batches, micro, clip = _batches(workload), config.accumulation, config.grad_clip
    watch = Divergence(beta=config.beta, threshold=config.divergence, burn_in=BURN_IN)
    values, losses, smoothed = [], [], []
    stop = Stop("finished", f"finished {sweep.steps} steps")
    model.train()
    sweep_mode(optimizer)  # schedule-free: train mode, its own warmup off (restored afterwards)
    for step, value in enumerate(sweep.values()):
        set_param(optimizer, param, value, ratios)
        parts = update(model, optimizer, batches, loss_of=loss_of, grad_clip=clip, accumulation=micro)
        loss = world.mean(sum(float(part) for part in parts) / micro)  # the mean over micro-batches
        if held_out is not None:
            loss = held_out(model)["loss"]
        average, problem = watch(loss)
        values.append(value)
        losses.append(loss)
        smoothed.append(average)
        if progress is not None:
            progress(step + 1, sweep.steps)
        if problem is not None:
            stop = Stop("diverged", f"diverged at step {step + 1}: {problem} at {param}={value:.3g}")
            break
    return Trace(param, tuple(values), tuple(losses), tuple(smoothed), stop, time.perf_counter() - began)


def _held_out(workload: Workload) -> Scores:
    scores = workload.scores
    if scores is None:
        raise LrlabError(
            "validation=True records the held-out loss, but the task has no held-out data; give "
            "val batches (or an evaluate that returns 'loss'), or leave validation off."
        )
    return scores
