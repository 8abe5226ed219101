"""The objective of a study: one trial = one experiment trained with :func:`~lrlab.train.fit`
(``K`` of them with ``--cv K``), reporting the monitored metric after every epoch.

Pruning follows Optuna's protocol: :class:`TrialReporter` calls ``trial.report`` and
``trial.should_prune()`` each epoch and, when told to, stops the fit with a reason, so every
callback finishes and ``metrics.csv`` keeps each epoch; the objective then raises
``optuna.TrialPruned``. A trial's run directory is ``trials/<number>/`` in the study directory
(``trials/<number>/fold<k>/`` with cross-validation): ``config.json``, ``metrics.csv`` and
``summary.json``; no checkpoints (the final retrain writes weights). The test split is never
evaluated in a trial.

Its value is the monitored metric (``early_stopping.monitor``) at the best epoch — the epoch
``best.pt`` would hold — and, with ``--cv K``, the mean over the folds, the folds made by
scikit-learn's ``StratifiedKFold`` (classification) or ``KFold`` over the training and
validation data together, each fold standardized with its own training part.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import torch

from lrlab.config import Experiment
from lrlab.data import Data, load_dataset
from lrlab.data.dataset import normalize
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.record import write_json
from lrlab.record.files import CONFIG_JSON, SUMMARY_JSON
from lrlab.record.summary import SummaryCore, best_row
from lrlab.scaling import ScalingRule
from lrlab.task import Task
from lrlab.train import Callback, FitResult, Monitor, Run, fit
from lrlab.train.checkpoint import Checkpoint
from lrlab.train.feed import steps_per_epoch
from lrlab.train.setup import build_callbacks, build_model_and_optimizer, fit_config, load_task
from lrlab.tune.budget import EPOCHS
from lrlab.tune.space import SearchSpace, StepsPerEpoch

TRIALS = "trials"


class TrialReporter(Callback):
    """Reports ``metric`` to ``trial`` after each epoch (at step ``offset + epoch``) and stops
    the fit when the pruner says so; ``pruned`` tells the objective afterwards. It records the
    epochs trained so far (``offset + epoch``, the user attribute ``epochs``) after each epoch:
    a trial that fails or is killed later keeps its count (a study's epoch budget reads it).

    The pruner is not asked at step ``last`` (the trial's last epoch, of its last fold): a
    trial that has trained to its end costs nothing more, and pruning it then would only throw
    its value away (the median rule asks at every epoch; a rung of successive halving may
    fall on the last one)."""

    order = 300  # after metrics.csv has the epoch

    def __init__(self, trial: optuna.Trial, metric: str, offset: int = 0, *, last: int | None = None) -> None:
        self.trial, self.metric, self.offset, self.last = trial, metric, offset, last
        self.pruned = False

    def on_fit_start(self, run: Run) -> None:
        self.pruned = False

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        epoch = int(metrics["epoch"])
        step = self.offset + epoch
        self.trial.set_user_attr(EPOCHS, step)
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, step)
        if (self.last is None or step < self.last) and self.trial.should_prune():
            self.pruned = True
            run.stop("pruned", f"pruned at epoch {epoch}: {self.metric} {value:.4g} trails the other trials")


@dataclass(frozen=True)
class FoldResult:
    """One fit of a trial: its directory, the best monitored value and epoch, and how it ended."""

    run_dir: Path
    value: float
    best_epoch: int
    epochs: int
    stop_reason: str
    pruned: bool
    retrain_bar: float | None = None  # the worst finite monitored value of its second half


class Objective:
    """``objective(trial) -> value`` for ``study.optimize``, training under ``folder/trials``.

    The data are loaded once per process; every trial trains with the experiment's seed, so
    trials differ only in the values the search draws.
    """

    def __init__(
        self, space: SearchSpace, folder: Path, *, cv: int = 0, scaling: ScalingRule | None = None
    ) -> None:
        self.space, self.folder, self.cv, self.scaling = space, Path(folder), cv, scaling
        self.monitor = space.base.early_stopping.monitor
        self._splits: list[Data | Task] | None = None

    def splits(self) -> list[Data | Task]:
        """The data each trial trains on: one split (a dataset or a plug-in's task), or the ``cv``
        folds of a dataset."""
        if self._splits is None:
            base = self.space.base  # a plug-in task with --cv is refused by study.check
            self._splits = [*cv_folds(base, self.cv)] if self.cv else [load_task(base)]
        return self._splits

    def __call__(self, trial: optuna.Trial) -> float:
        return self.train(trial, self.sample(trial))

    def sample(self, trial: optuna.Trial) -> Experiment:
        """The experiment of ``trial``: the values it draws, schedules sized to the data."""
        steps = updates_per_epoch(self.splits()[0], self.space.base)
        return self.space.sample(trial, steps_per_epoch=steps, scaling=self.scaling)

    def train(self, trial: optuna.Trial, experiment: Experiment) -> float:
        """Train ``trial``'s ``experiment`` (each fold with ``--cv``) and return its value."""
        splits = self.splits()
        if isinstance(splits[0], Task) and experiment.train.batch_size != self.space.base.train.batch_size:
            splits = [load_task(experiment)]  # the plug-in batches at the trial's batch size
        folder = claim_directory(self.folder / TRIALS, trial.number)
        trial.set_user_attr("run_dir", str(folder.relative_to(self.folder)))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("experiment", experiment.model_dump(mode="json"))
        trial.set_user_attr(EPOCHS, 0)  # a retry of a killed trial starts with a copy of its count
        epochs = experiment.train.epochs
        results: list[FoldResult] = []
        last = len(splits) * epochs  # the last step reported: never pruned
        for index, data in enumerate(splits):
            where = folder / f"fold{index + 1}" if self.cv else folder
            results.append(self.fit_one(experiment, data, where, trial, offset=index * epochs, last=last))
            if results[-1].pruned:
                break
        return self.finish(trial, results)

    def fit_one(
        self,
        experiment: Experiment,
        data: Data | Task,
        folder: Path,
        trial: optuna.Trial,
        *,
        offset: int,
        last: int | None = None,
    ) -> FoldResult:
        """Train ``experiment`` on ``data`` into ``folder``, reporting to ``trial`` (steps from
        ``offset + 1``; never pruned at step ``last``)."""
        folder.mkdir(parents=True, exist_ok=True)
        record = {"experiment": experiment.model_dump(mode="json"), "trial": trial.number}
        record["data"] = (
            {"task": data.name}
            if isinstance(data, Task)
            else {"train": len(data.x_train), "val": 0 if data.x_val is None else len(data.x_val)}
        )
        write_json(folder / CONFIG_JSON, record)
        reporter = TrialReporter(trial, self.monitor, offset, last=last)
        callbacks = [c for c in build_callbacks(experiment, folder) if not isinstance(c, Checkpoint)]
        _, result = fit_experiment(experiment, data, callbacks=[*callbacks, reporter], run_dir=folder)
        monitor = Monitor(self.monitor, experiment.early_stopping.mode)
        best = best_row(result.history, monitor)
        fold = self._result(result, folder, monitor, pruned=reporter.pruned)
        summary = SummaryCore.of_fit(result, best).to_dict() | {
            "monitor": {"metric": self.monitor, "mode": monitor.mode},
            "value": fold.value,
            "best_epoch": fold.best_epoch,
        }
        write_json(folder / SUMMARY_JSON, summary)
        return fold

    def _result(self, result: FitResult, folder: Path, monitor: Monitor, *, pruned: bool) -> FoldResult:
        """The fold's numbers, ``monitor`` having read its epochs: the best monitored value (the
        worst possible when none is finite) and the bar a final retrain must reach."""
        worst = math.inf if monitor.mode == "min" else -math.inf
        value = worst if monitor.best is None else monitor.best
        second_half = [row.get(self.monitor, math.nan) for row in result.history[len(result.history) // 2 :]]
        finite = [reading for reading in second_half if math.isfinite(reading)]
        bar = (min if monitor.mode == "max" else max)(finite) if finite else None
        return FoldResult(
            folder, value, monitor.best_epoch or 0, len(result.history), result.stop_reason, pruned, bar
        )

    def finish(self, trial: optuna.Trial, results: list[FoldResult]) -> float:
        """Record the trial's numbers; raise ``TrialPruned`` when a fit was pruned."""
        values = [result.value for result in results]
        trial.set_user_attr(EPOCHS, sum(result.epochs for result in results))
        trial.set_user_attr("best_epoch", round(statistics.fmean(r.best_epoch for r in results)))
        trial.set_user_attr("stop_reason", results[-1].stop_reason)
        bars = [r.retrain_bar for r in results if r.retrain_bar is not None]
        if bars:  # what the final retrain must reach on its own training data
            trial.set_user_attr("retrain_bar", statistics.fmean(bars))
        if self.cv:
            trial.set_user_attr("cv_values", values)  # the folds done (all but pruned trials)
            finite = [value for value in values if math.isfinite(value)]
            if len(finite) > 1:
                trial.set_user_attr("cv_std", statistics.stdev(finite))
        if results[-1].pruned:
            raise optuna.TrialPruned(results[-1].stop_reason)
        return statistics.fmean(values)


def updates_per_epoch(data: Data | Task, experiment: Experiment) -> StepsPerEpoch:
    """A trial's updates per epoch at its batch size (what sizes its schedules in steps): a
    dataset's batches; a task's batches at the experiment's batch size, and at another batch size
    as many as the samples of those batches fill."""
    base = experiment.train.batch_size

    def at(batch_size: int) -> int:
        if isinstance(data, Data) or batch_size == base:
            return steps_per_epoch(data, batch_size, World())
        return -(-steps_per_epoch(data, base, World()) * base // batch_size)

    return at


def fit_experiment(
    experiment: Experiment,
    data: Data | Task,
    *,
    callbacks: Sequence[Callback] = (),
    run_dir: Path | None = None,
) -> tuple[torch.nn.Module, FitResult]:
    """Train ``experiment`` on ``data``: the model and the fit."""
    model, optimizer, _ = build_model_and_optimizer(experiment, data)
    result = fit(
        model,
        data,
        optimizer,
        experiment.schedule,
        config=fit_config(experiment),
        callbacks=list(callbacks),
        run_dir=run_dir,
    )
    return model, result


def claim_directory(parent: Path, number: int) -> Path:
    """A new folder ``parent/<number>`` (``<number>-2``, … when a removed study left one)."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (f"{number:04d}" if attempt == 1 else f"{number:04d}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{parent}: no free folder for trial {number}")


def cv_folds(experiment: Experiment, k: int) -> list[Data]:
    """``k`` folds of the training (and validation) data, seeded by ``train.seed``; each fold's
    validation part is held out and both parts are standardized with its training part."""
    from sklearn.model_selection import KFold, StratifiedKFold  # type: ignore[import-untyped]

    task = experiment.task
    seed = experiment.train.seed
    raw = load_dataset(task.dataset, data_dir=task.data_dir, seed=seed, normalize=False)
    x, y = raw.x_train, raw.y_train
    if raw.x_val is not None and raw.y_val is not None:
        x, y = torch.cat([x, raw.x_val]), torch.cat([y, raw.y_val])
    classes = raw.task == "classification"
    splitter = (StratifiedKFold if classes else KFold)(n_splits=k, shuffle=True, random_state=seed % 2**32)
    folds = []
    labels = y.numpy() if classes else None
    try:
        pairs = list(splitter.split(np.zeros(len(y)), labels))
    except ValueError as error:  # e.g. fewer samples of a class than folds
        raise LrlabError(f"--cv {k}: {error}") from None
    for train, held_out in pairs:
        fold = dataclasses.replace(
            raw, x_train=x[train], y_train=y[train], x_val=x[held_out], y_val=y[held_out]
        )
        folds.append(normalize(fold))
    return folds
