"""The range test of an experiment, as ``lrlab find-lr`` runs it: the test's own options
(:class:`Options`), the sweep settings and the ladder they make with the experiment's, the length
of the training a recommendation is for, the run folder and ``summary.json``'s
``recommendation``.

The folder is ``<out>/<name>/find-<param>-<run>-<digest>/``: ``<run>`` is the name
``lrlab train`` gives the experiment's run folder (:func:`lrlab.train.run.run_name`), ``<digest>``
hashes the options, so the same command writes the same folder again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lrlab.config import Experiment
from lrlab.data import Data
from lrlab.distributed import World
from lrlab.finder.hyperparameter import Hyperparameter, check_param
from lrlab.finder.outcome import RangeTestResult
from lrlab.finder.recommend import Recommendation
from lrlab.finder.sweep import Sweep, SweepConfig, default_steps, default_sweep
from lrlab.task import Task
from lrlab.train.feed import steps_per_epoch
from lrlab.train.horizon import run_length
from lrlab.train.run import run_name
from lrlab.train.state import FitConfig


@dataclass(frozen=True)
class Options:
    """The range test's options (``lrlab find-lr``'s flags of the same names): what it sweeps
    (``param``) over which ladder (``start``/``end``/``mode``: ``None`` for the optimizer's
    default), ``repeats`` sweeps, and the run's ``divergence``, ``accumulation`` and
    ``validation`` (see :class:`~lrlab.finder.SweepConfig`)."""

    param: Hyperparameter = "lr"
    start: float | None = None
    end: float | None = None
    steps: int | None = None
    mode: Literal["exp", "linear"] | None = None
    repeats: int = 1
    divergence: float = 4.0
    accumulation: int = 1
    validation: bool = False


def sweep_config(experiment: Experiment, options: Options) -> SweepConfig:
    """The sweep's settings: the experiment's batch, seed, device and precision, the options' rest."""
    train = experiment.train
    return SweepConfig(
        batch_size=train.batch_size, seed=train.seed, device=train.device, divergence=options.divergence,
        accumulation=options.accumulation, amp=train.amp, grad_clip=train.grad_clip,
        validation=options.validation, eval_batch_size=train.eval_batch_size,
    )  # fmt: skip


def ladder(optimizer: torch.optim.Optimizer, options: Options, batch_size: int | None = None) -> Sweep:
    """The values to try: the options' ``start``, ``end``, ``steps`` and ``mode`` where given,
    else the optimizer's default ladder (:func:`~lrlab.finder.default_sweep`), its steps from
    the samples per update (``batch_size × accumulation``, :func:`~lrlab.finder.sweep.default_steps`;
    pass the global batch under data-parallel)."""
    samples = None if batch_size is None else batch_size * options.accumulation
    steps = options.steps or default_steps(samples)
    default = default_sweep(optimizer, check_param(optimizer, options.param), steps)
    return Sweep(
        options.start if options.start is not None else default.start,
        options.end if options.end is not None else default.end,
        steps,
        options.mode or default.mode,
    )


def confirm_config(experiment: Experiment, epochs: int) -> FitConfig:
    """The settings of each confirmation training: the experiment's, for ``epochs`` epochs, quiet."""
    train = experiment.train
    return FitConfig(
        epochs=epochs, batch_size=train.batch_size, seed=train.seed, device=train.device,
        grad_clip=train.grad_clip, amp=train.amp, eval_batch_size=train.eval_batch_size, quiet=True,
    )  # fmt: skip


def schedule_length(experiment: Experiment, data: Data | Task, world: World) -> int:
    """The length of the training the recommended schedule is for, in its units, as
    ``lrlab train`` runs it (:func:`~lrlab.train.horizon.run_length`): updates, or epochs with
    ``interval="epoch"``; a ``steps`` budget counts. At least 2."""
    train = experiment.train
    if train.interval == "epoch" and train.steps is None:  # the epochs: no need to count batches
        return max(train.epochs, 2)
    return max(run_length(experiment, steps_per_epoch(data, train.batch_size, world)), 2)


def range_test_folder(out: str | Path, experiment: Experiment, options: Options, world_size: int) -> Path:
    """The range test's folder under ``out`` (see the module docs)."""
    settings = json.dumps(dataclasses.asdict(options), sort_keys=True)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:6]
    run = run_name(experiment, world_size)
    return Path(out).expanduser() / experiment.name / f"find-{options.param}-{run}-{digest}"


def recommendation_record(
    result: RangeTestResult,
    recommendation: Recommendation,
    *,
    command: str | None,
    folder: Path,
    processes: int,
) -> dict[str, Any]:
    """``summary.json``'s ``recommendation`` (and ``lrlab find-lr --format json``'s object): the
    suggestion (``suggested_<param>``), its reason and confidence, for an LR test the range and
    schedules, the ``command`` to train with, every method's value, how the sweep stopped, and,
    after a confirmation, its trainings."""
    answer, lr_test = result.suggestion, result.param == "lr"
    key = "suggested_lr" if lr_test else f"suggested_{result.param}"
    record: dict[str, Any] = {
        key: recommendation.lr if lr_test else answer.value,
        "reason": answer.reason,
        "confidence": answer.confidence,
        "range": list(recommendation.range) if recommendation.range and lr_test else None,
        "schedule": recommendation.schedule if lr_test else None,
        "one_cycle": recommendation.one_cycle if lr_test else None,
        "command": command,
        "methods": {a.method: a.value for a in result.suggestions},
        "stop_reason": result.stop_reason,
        "steps": len(result.values),
        "run_dir": str(folder),
        "processes": processes,
    }
    if recommendation.confirmation is not None:
        trials = recommendation.confirmation.trials
        record["confirmation"] = {
            "metric": recommendation.confirmation.metric,
            "trials": [{"lr": t.lr, "score": t.score if math.isfinite(t.score) else None} for t in trials],
        }
    return record
