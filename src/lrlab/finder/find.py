"""``find_lr`` and ``range_test``: run the sweep, read the suggestions, return a frozen result.

>>> import torch
>>> from lrlab.data import load_dataset
>>> from lrlab.models import build_model
>>> from lrlab.optim import build_optimizer
>>> data = load_dataset("digits")
>>> _ = torch.manual_seed(0)
>>> model = build_model("mlp(widths=[32])", data.input_shape, 10)
>>> optimizer = build_optimizer(model, "sgd(momentum=0.9)", lr=0.1)
>>> result = find_lr(model, data, optimizer, config=SweepConfig(device="cpu"))
>>> result.suggestion.ok, 1e-4 < result.suggested_lr < 1.0
(True, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lrlab import distributed
from lrlab.data import Data
from lrlab.errors import invalid
from lrlab.finder.curve import Curve
from lrlab.finder.hyperparameter import Hyperparameter, check_param
from lrlab.finder.outcome import RangeTestResult
from lrlab.finder.suggest import METHODS, combine, edge, suggest_all
from lrlab.finder.sweep import Sweep, SweepConfig, Trace, default_steps, default_sweep, run_sweep
from lrlab.task import LossFn, Task, as_task


def optimizer_momentum(optimizer: torch.optim.Optimizer) -> float:
    """The momentum of the first param group: SGD's/RMSprop's ``momentum``, Adam's first beta."""
    group = optimizer.param_groups[0]
    if "betas" in group:
        return float(group["betas"][0])
    return float(group.get("momentum", 0.0) or 0.0)


def find_lr(
    model: nn.Module,
    data: Data | Task | Iterable[Any],
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: LossFn | None = None,
    steps_per_epoch: int | None = None,
    val: Iterable[Any] | None = None,
    sweep: Sweep | None = None,
    config: SweepConfig | None = None,
    repeats: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> RangeTestResult:
    """The LR range test: sweep the LR of ``optimizer`` over ``sweep`` (default: by optimizer
    family, see :func:`~lrlab.finder.sweep.default_sweep`) while training ``model`` on ``data``.

    ``data`` is a :class:`~lrlab.data.Data` record, a :class:`~lrlab.task.Task`, or any iterable
    of batches (a ``DataLoader`` …) with the ``loss_fn``, ``steps_per_epoch`` and ``val`` (read
    with ``config.validation``) of :class:`~lrlab.task.Task`. ``repeats > 1`` runs that many
    sweeps with seeds ``seed, seed + 1, …``: the suggestion is their median and its confidence
    counts their agreement. The model's weights and buffers, the optimizer and the random
    generators are left exactly as they were. ``progress(done, total)`` is told of every step
    (see :func:`range_test`); nothing is printed. A Prodigy optimizer is refused (it estimates its LR
    scale itself); a schedule-free one is swept in train mode, its own warmup off (see
    :mod:`lrlab.finder.sweep`).
    """
    task = as_task(data, val=val, loss_fn=loss_fn, steps_per_epoch=steps_per_epoch)
    return range_test(
        model, task, optimizer, "lr", sweep=sweep, config=config, repeats=repeats, progress=progress
    )


def range_test(
    model: nn.Module,
    data: Data | Task,
    optimizer: torch.optim.Optimizer,
    param: Hyperparameter = "lr",
    *,
    sweep: Sweep | None = None,
    config: SweepConfig | None = None,
    repeats: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> RangeTestResult:
    """A range test of ``param`` ("lr", "weight_decay" or "momentum"; the others at the
    optimizer's current values) on a ``Data`` record or a :class:`~lrlab.task.Task`. Tests of
    weight decay and momentum suggest the ``edge`` (the largest value before the loss turns up,
    moved back for lag).

    ``progress(done, total)`` is called after each step of each sweep, ``total`` being
    ``repeats × sweep.steps`` (a sweep that diverges skips ahead to the next one's start), and
    once with ``done == total`` at the end.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", "an integer >= 1", repeats)
    if not isinstance(data, Data | Task):
        raise invalid("data", "a Data record or a Task (find_lr also takes batches)", type(data).__name__)
    param = check_param(optimizer, param)
    config = config or SweepConfig()
    global_batch = config.batch_size * config.accumulation * distributed.current().size
    samples = global_batch if isinstance(data, Data) else None
    ladder = sweep or default_sweep(optimizer, param, default_steps(samples))
    momentum = 0.0 if param == "momentum" else optimizer_momentum(optimizer)
    traces: list[Trace] = []
    total = repeats * ladder.steps
    for offset in range(repeats):
        seeded = dataclasses.replace(config, seed=config.seed + offset)
        told = None if progress is None else _offset(progress, offset * ladder.steps, total)
        traces.append(run_sweep(model, data, optimizer, ladder, param=param, config=seeded, progress=told))
    if progress is not None:
        progress(total, total)
    curves = [Curve.of(t.values, t.losses, momentum) for t in traces]
    first = traces[0]
    if param == "lr":
        singles = [name for name in METHODS if name != "lrlab"]
        default, answers = combine(curves), tuple(suggest_all(curves[0], singles).values())
    else:
        default, answers = edge(curves[0]), (edge(curves[0]),)
    trend = [*curves[0].smooth_loss.tolist(), *[math.nan] * (len(first.losses) - len(curves[0]))]
    return RangeTestResult(
        param=param,
        values=first.values,
        losses=first.losses,
        smoothed=first.smoothed,
        trend=tuple(trend),
        stop=first.stop,
        suggestion=default,
        suggestions=answers,
        momentum=momentum,
        repeats=repeats,
        seconds=sum(t.seconds for t in traces),
    )


def _offset(progress: Callable[[int, int], None], before: int, total: int) -> Callable[[int, int], None]:
    """One sweep's ``progress(done, steps)`` as the whole test's (``before`` steps already done)."""

    def told(done: int, _steps: int) -> None:
        progress(before + done, total)

    return told
