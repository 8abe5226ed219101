"""What the Lightning and Hugging Face integrations share: the optimizer under a framework's
wrapper, the sweep's settings taken from the trainer, running the sweep at the groups' base LRs,
and writing a found LR into an optimizer and its schedulers.

A framework's scheduler may already have moved the groups' LRs when the test runs (a warmup puts
them at 0 before the first update); the sweep reads each group's ratio to the optimizer's base
LR, so it runs at the base LRs the scheduler scales (``initial_lr``) and puts the scheduled ones
back afterwards, exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler

from lrlab.errors import LrlabError, invalid
from lrlab.finder.outcome import RangeTestResult
from lrlab.finder.sweep import SweepConfig
from lrlab.torch_bridge import write_group_lr

# recommend() also writes a one-cycle spec, whose peak (at 30%) needs at least 4 steps
SHORTEST = 4


def check_steps(steps: object, source: str = "steps", fix: str = "") -> int:
    """``steps`` (a training's updates) when a recommendation can be made for it, else the error."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < SHORTEST:
        raise invalid(source, f"an integer >= {SHORTEST} (the training's updates)", steps, fix)
    return steps


def inner_optimizer(optimizer: Any, owner: str) -> torch.optim.Optimizer:
    """The torch optimizer itself: ``optimizer``, or the one a wrapper holds (accelerate's
    ``AcceleratedOptimizer`` as ``.optimizer``, Lightning's ``LightningOptimizer`` as
    ``.optimizer``), whose ``step`` may skip updates on the wrapper's own schedule."""
    inner = getattr(optimizer, "optimizer", None)
    if isinstance(inner, torch.optim.Optimizer):
        return inner
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    raise invalid(f"{owner}'s optimizer", "a torch.optim.Optimizer", type(optimizer).__name__)


def inner_scheduler(scheduler: Any) -> Any:
    """The torch scheduler itself (accelerate wraps it as ``.scheduler``)."""
    inner = getattr(scheduler, "scheduler", None)
    return inner if inner is not None else scheduler


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s first parameter lives (the CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def settled(config: SweepConfig, device: torch.device, owner: str) -> SweepConfig:
    """``config`` on ``device``: the sweep trains the model where the trainer put it (it moves the
    model to its device and does not move it back)."""
    if config.device == "auto":
        return dataclasses.replace(config, device=str(device))
    if torch.device(config.device) != device:
        raise invalid(
            "config.device",
            f"the device the {owner} trains on ({device})",
            config.device,
            "Leave it at 'auto'.",
        )
    return config


def base_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each group's base LR: ``initial_lr`` once a scheduler scales it, else its ``lr``."""
    return [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]


def reference_lr(optimizer: torch.optim.Optimizer) -> float:
    """The LR the sweep's values stand for: the optimizer's default ``lr`` (groups keep their
    ratios to it), else the first group's base LR."""
    return float(optimizer.defaults.get("lr", base_lrs(optimizer)[0]))


@contextmanager
def at_base_lrs(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Groups at their base LRs inside the block; the LRs they held (a scheduler's) back after."""
    held = [group["lr"] for group in optimizer.param_groups]
    held = [lr.clone() if isinstance(lr, Tensor) else lr for lr in held]
    for group, base in zip(optimizer.param_groups, base_lrs(optimizer), strict=True):
        write_group_lr(group, base)
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, held, strict=True):
            if isinstance(group["lr"], Tensor) and isinstance(lr, Tensor):
                group["lr"].copy_(lr)
            else:
                group["lr"] = lr


@contextmanager
def kept_grads(model: nn.Module) -> Iterator[None]:
    """The parameters' ``.grad`` back as they were after the block (the sweep leaves its last
    update's gradients, and a trainer that accumulates into them would add them to its first)."""
    held = [(p, None if p.grad is None else p.grad.detach().clone()) for p in model.parameters()]
    try:
        yield
    finally:
        for param, grad in held:
            param.grad = grad


def apply_lr(optimizer: torch.optim.Optimizer, lr: float, schedulers: Sequence[Any] = ()) -> None:
    """Make ``lr`` the optimizer's base LR: every group's base LR scaled by ``lr / reference``
    (groups keep their ratios), the current LRs by the same factor (a scheduler's current
    multiplier stays), ``defaults["lr"]``, and the ``base_lrs`` of the schedulers that drive it.

    Schedulers that keep absolute LRs of their own (``OneCycleLR``'s ``max_lr``, ``CyclicLR``)
    are not changed.
    """
    reference = reference_lr(optimizer)
    if not reference > 0:
        raise invalid("the optimizer's lr", "> 0 (the LR the found one replaces)", reference)
    factor = lr / reference
    for group, base in zip(optimizer.param_groups, base_lrs(optimizer), strict=True):
        if "initial_lr" in group:
            group["initial_lr"] = base * factor
        write_group_lr(group, float(group["lr"]) * factor)
    optimizer.defaults["lr"] = lr
    for wrapped in schedulers:
        scheduler = inner_scheduler(wrapped)
        driven = getattr(scheduler, "optimizer", None)
        if isinstance(scheduler, LRScheduler) and getattr(driven, "optimizer", driven) is optimizer:
            bases: list[float | Tensor] = [*base_lrs(optimizer)]
            scheduler.base_lrs = bases


def save_plot(result: RangeTestResult, path: str | Path) -> Path:
    """Draw ``result`` (:func:`~lrlab.finder.plot_range_test`) into ``path``; the format follows
    its suffix."""
    from lrlab.finder.plot import plot_range_test

    target = Path(path)
    if target.suffix.lower() not in {".png", ".svg", ".pdf", ".jpg", ".jpeg"}:
        raise invalid("plot", "a path ending in .png, .svg, .pdf or .jpg", str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    plot_range_test(result).savefig(target)
    return target


def single_process(world_size: int, owner: str) -> None:
    """The integrations run the test in one process: under several, each would sweep alone."""
    if world_size > 1:
        raise LrlabError(
            f"the lrlab range test runs in one process, but the {owner} runs {world_size}; run it "
            "once in a single process (devices=1), then train on all with the LR it found."
        )


def sized(loader: Iterable[Any]) -> bool:
    """Whether ``loader`` has a ``len()`` (an epoch of known length)."""
    try:
        len(loader)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True
