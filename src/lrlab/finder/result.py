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

import csv
import dataclasses
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrlab.data import Data
from lrlab.errors import invalid
from lrlab.finder.curve import Curve
from lrlab.finder.suggest import METHODS, Suggestion, combine, edge, suggest_all
from lrlab.finder.sweep import (
    BURN_IN,
    Param,
    Sweep,
    SweepConfig,
    Trace,
    check_param,
    default_sweep,
    run_sweep,
)
from lrlab.record import write_json, write_text
from lrlab.record.files import SUMMARY_JSON
from lrlab.record.summary import SummaryCore
from lrlab.smoothing import Divergence
from lrlab.task import LossFn, Task, as_task
from lrlab.train.stop import Stop

STEPS_CSV = "steps.csv"


@dataclass(frozen=True)
class RangeTestResult:
    """A range test: the values tried, the raw and smoothed losses, the suggestions, and how it
    stopped (``stop``: ``finished`` or ``diverged``, and why). ``values`` are LRs for an LR test
    (also as :attr:`lrs`). ``smoothed`` is the debiased EMA the divergence stop used; ``trend``
    the centred smoothing the suggestions read (both ``nan`` after a non-finite loss).
    ``suggestion`` is the default; ``suggestions`` every single method's answer. ``repeats``
    counts the sweeps behind the default's confidence.
    """

    param: Param
    values: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    trend: tuple[float, ...]
    stop: Stop
    suggestion: Suggestion
    suggestions: tuple[Suggestion, ...]
    momentum: float
    repeats: int
    seconds: float

    @property
    def lrs(self) -> tuple[float, ...]:
        """The LRs tried (for an LR test)."""
        return self.values

    @property
    def stop_reason(self) -> str:
        """Why the sweep stopped, in words."""
        return self.stop.detail

    @property
    def suggested_lr(self) -> float | None:
        """The default suggestion's value, or ``None`` (see ``suggestion.reason``)."""
        return self.suggestion.value

    @property
    def lowest(self) -> float | None:
        """The value where the trend is lowest: above it the sweep showed training break down
        (``None`` when no loss was finite)."""
        finite = [(t, v) for t, v in zip(self.trend, self.values, strict=True) if math.isfinite(t)]
        return min(finite)[1] if finite else None

    def method(self, name: str) -> Suggestion:
        """The suggestion of the method ``name``."""
        for answer in self.suggestions:
            if answer.method == name:
                return answer
        raise invalid("name", f"one of {', '.join(a.method for a in self.suggestions)}", name)

    def rows(self) -> list[dict[str, float]]:
        """One row per step: ``step``, the value (``lr`` …), ``loss``, ``smoothed``, ``trend``."""
        return [
            {"step": float(i), self.param: v, "loss": loss, "smoothed": s, "trend": t}
            for i, (v, loss, s, t) in enumerate(
                zip(self.values, self.losses, self.smoothed, self.trend, strict=True)
            )
        ]

    def summary(self) -> dict[str, Any]:
        """The result without the per-step arrays, as JSON-ready data: ``summary.json``'s core
        (:mod:`lrlab.record.summary`: ``best`` the step where the trend is lowest, ``final`` the
        last one, their non-finite values left out; no epochs, no test), then the suggestions."""
        rows = [{key: v for key, v in row.items() if math.isfinite(v)} for row in self.rows()]
        lowest = min(
            (i for i, t in enumerate(self.trend) if math.isfinite(t)),
            key=self.trend.__getitem__,
            default=None,
        )
        core = SummaryCore(
            stop=self.stop,
            epochs=None,
            steps=len(self.values),
            best={} if lowest is None else rows[lowest],
            final=rows[-1] if rows else {},
            wall_time_s=self.seconds,
            train_time_s=self.seconds,
        )
        return core.to_dict() | {
            "param": self.param,
            "suggested": _suggestion_data(self.suggestion),
            "methods": {a.method: _suggestion_data(a) for a in self.suggestions},
            "range": [self.values[0], self.values[-1]] if self.values else [],
            "momentum": self.momentum,
            "repeats": self.repeats,
        }


def _suggestion_data(answer: Suggestion) -> dict[str, Any]:
    return {
        "value": answer.value,
        "step": answer.index,
        "confidence": answer.confidence,
        "reason": answer.reason,
    }


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
    param: Param = "lr",
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
    ladder = sweep or default_sweep(optimizer, param)
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
        stop=_stop(first, config),
        suggestion=default,
        suggestions=answers,
        momentum=momentum,
        repeats=repeats,
        seconds=sum(t.seconds for t in traces),
    )


def _stop(trace: Trace, config: SweepConfig) -> Stop:
    """How a sweep ended: ``diverged`` when the divergence rule stopped it, else ``finished``.
    The rule is replayed on the sweep's losses (it is a function of them alone), as the trace
    keeps only the reason's words."""
    rule = Divergence(beta=config.beta, threshold=config.divergence, burn_in=BURN_IN)
    diverged = any(rule(loss)[1] is not None for loss in trace.losses)
    return Stop("diverged" if diverged else "finished", trace.stop_reason)


def _offset(progress: Callable[[int, int], None], before: int, total: int) -> Callable[[int, int], None]:
    """One sweep's ``progress(done, steps)`` as the whole test's (``before`` steps already done)."""

    def told(done: int, _steps: int) -> None:
        progress(before + done, total)

    return told


def write_range_test(
    result: RangeTestResult, folder: str | Path, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``steps.csv`` (one row per step) and ``summary.json`` (``result.summary()`` plus
    ``extra``, strict JSON) into ``folder``, each atomically; return the folder."""
    target = Path(folder)
    buffer = io.StringIO()
    columns = ["step", result.param, "loss", "smoothed", "trend"]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in result.rows():
        writer.writerow({key: int(v) if key == "step" else repr(v) for key, v in row.items()})
    write_text(target / STEPS_CSV, buffer.getvalue())
    write_json(target / SUMMARY_JSON, result.summary() | dict(extra or {}), allow_nan=False)
    return target
