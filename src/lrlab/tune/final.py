"""The final retrain (``lrlab tune --final``): the best configuration trained once more on the
training and validation data together, its schedule sized for that data, for the trial's epochs
(its best epoch when early stopping cut it short; early stopping and plateau cuts are off, as
nothing is held out to watch), then the test split evaluated once. ``final-trial<n>/`` holds
``config.json``, ``metrics.csv`` (its ``val_*`` columns are measured on the training data),
``model.pt`` (a state dict: ``--init-from`` takes it) and ``summary.json`` (the core of
:mod:`lrlab.record.summary` with the test metrics, plus the trial, the training samples, why it
collapsed if it did and the retrains skipped before it); running the command again reuses it.

A configuration at the edge of stability can collapse on the retrain (a different data order
and size), or start late and end short of its trial: when its training loss ends non-finite, or
its monitored metric, measured on the data it trained on, ends worse than the worst its trial had
on held-out data in the second half of its epochs (:func:`collapsed`), the retrain moves on to
the next best trial, up to :data:`FINAL_CANDIDATES`, and says so (the test split is still
evaluated once, for the model kept).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial

from lrlab.config import Experiment, validate
from lrlab.data import Data, load_dataset
from lrlab.data.dataset import normalize
from lrlab.errors import LrlabError
from lrlab.record import write_json, write_torch
from lrlab.record.files import CONFIG_JSON, SUMMARY_JSON, finished_summary
from lrlab.record.summary import SummaryCore, best_row
from lrlab.scaling import ScalingRule
from lrlab.train import Callback, FitResult, MetricsCsv, Monitor, evaluate
from lrlab.train.monitor import resolve_mode
from lrlab.tune.objective import fit_experiment, updates_per_epoch
from lrlab.tune.space import SearchSpace

MODEL = "model.pt"

FINAL_CANDIDATES = 3  # the best trials the final retrain tries in turn while one collapses


@dataclass(frozen=True)
class Candidate:
    """A trial the final retrain may train: its number, its experiment as the retrain runs it
    (:func:`final_experiment`) and the worst monitored value of its second half in the study
    (held-out data), which the retrain must reach on its own training data."""

    number: int
    experiment: Experiment
    retrain_bar: float | None = None


def final_retrain(
    space: SearchSpace, study: optuna.Study, folder: Path, scaling: ScalingRule | None, notes: list[str]
) -> dict[str, Any]:
    """Train the best configuration of ``study`` on train + validation (into ``folder``, with the
    study's LR ``scaling``) and evaluate the test split once; when that retrain collapses, the
    next best trial's (:func:`retrain_first_sound`)."""
    data = merged_data(space.base)

    def trained(trial: FrozenTrial) -> Experiment:
        fixed = optuna.trial.FixedTrial(trial.params)
        return space.sample(fixed, steps_per_epoch=updates_per_epoch(data, space.base), scaling=scaling)

    return retrain_first_sound(final_candidates(study, trained), data, folder, notes)


def final_candidates(study: optuna.Study, trained: Callable[[FrozenTrial], Experiment]) -> list[Candidate]:
    """The best :data:`FINAL_CANDIDATES` complete trials of ``study``, best first, each with the
    experiment ``trained(trial)`` as the final retrain runs it."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda trial: float(trial.value), reverse=maximize)  # type: ignore[arg-type]
    return [
        Candidate(
            trial.number,
            final_experiment(trained(trial), trial.user_attrs.get("best_epoch")),
            trial.user_attrs.get("retrain_bar"),
        )
        for trial in ranked[:FINAL_CANDIDATES]
    ]


def retrain_first_sound(
    candidates: Sequence[Candidate], data: Data, folder: Path | None, notes: list[str]
) -> dict[str, Any]:
    """Retrain ``candidates`` in turn on ``data`` until one is sound (:func:`collapsed`), then
    evaluate its test split once; the last is kept, and tested, whatever it ends at.

    With a ``folder``, each retrain writes ``final-trial<n>/`` in it (``config.json``,
    ``metrics.csv``; ``model.pt`` and ``summary.json`` with the test metrics for the one kept, a
    ``summary.json`` with the reason for one that collapsed), and running again reuses them."""
    if not candidates:
        raise LrlabError("the final retrain needs at least one complete trial.")
    skipped: list[dict[str, Any]] = []
    for index, candidate in enumerate(candidates):
        where = None if folder is None else folder / f"final-trial{candidate.number}"
        summary = None if where is None else finished_summary(where)
        last = index == len(candidates) - 1
        if summary is None:
            summary = _retrain(candidate, data, where, keep=last, skipped=skipped)
        if summary.get("test"):  # evaluated for the model kept only
            _note_collapses(notes, skipped, summary)
            return summary
        skipped.append({"trial": candidate.number, "collapsed": summary["collapsed"]})
    raise AssertionError("the last candidate is always kept")  # pragma: no cover


def _retrain(
    candidate: Candidate, data: Data, folder: Path | None, *, keep: bool, skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    """One retrain: the summary with the test metrics (and the retrains ``skipped`` before it),
    or only why it collapsed (unless ``keep``)."""
    experiment = candidate.experiment
    callbacks: list[Callback] = []
    if folder is not None:
        record = {"experiment": experiment.model_dump(mode="json"), "trial": candidate.number, "final": True}
        write_json(folder / CONFIG_JSON, record)
        callbacks.append(MetricsCsv(folder))
    model, result = fit_experiment(experiment, data, callbacks=callbacks, run_dir=folder)
    failure = collapsed(result, candidate)
    kept = failure is None or keep
    test = evaluate_test(model, data, experiment) if kept else {}
    stopping = experiment.early_stopping
    best = best_row(result.history, Monitor(stopping.monitor, stopping.mode))
    summary = SummaryCore.of_fit(result, best, test).to_dict() | {
        "trial": candidate.number,
        "train_samples": len(data.x_train),
        "collapsed": failure,
        "run_dir": None if folder is None else str(folder),
    }
    if kept:
        summary["skipped"] = list(skipped)
        if folder is not None:
            weights = {key: value.detach().cpu() for key, value in model.state_dict().items()}
            write_torch(folder / MODEL, weights)
    if folder is not None:
        write_json(folder / SUMMARY_JSON, summary)
    return summary


def collapsed(result: FitResult, candidate: Candidate) -> str | None:
    """Why the retrain of ``candidate`` is not sound, or ``None``: its training loss ended
    non-finite, or its monitored metric on the data it trained on ended worse than the
    candidate's ``retrain_bar``, the worst its trial had on held-out data in the second half of
    its epochs (trained on more data and measured on data it has seen, a sound retrain ends at
    least there; at the edge of stability a configuration that trained well once can diverge,
    die or start late on another run)."""
    loss = result.final.get("train_loss")
    if loss is None or not math.isfinite(loss):
        return f"no finite training loss ({result.stop_reason})"
    bar = candidate.retrain_bar
    stopping = candidate.experiment.early_stopping
    value = result.final.get(stopping.monitor)
    if bar is None or value is None:
        return None
    maximize = resolve_mode(stopping.monitor, stopping.mode) == "max"
    if math.isfinite(value) and (value >= bar if maximize else value <= bar):
        return None
    return (
        f"{stopping.monitor} {value:.4g} on its own training data after {len(result.history)} epochs, "
        f"{'below' if maximize else 'above'} the {bar:.4g} its trial had at worst on held-out data "
        "in its second half"
    )


def _note_collapses(notes: list[str], skipped: list[dict[str, Any]], kept: dict[str, Any]) -> None:
    for skip in skipped:
        notes.append(
            f"the final retrain of trial {skip['trial']} collapsed ({skip['collapsed']}); "
            "the next best trial was retrained instead."
        )
    if kept.get("collapsed") is not None:
        notes.append(
            f"the final retrain of trial {kept['trial']} collapsed too ({kept['collapsed']}) and is kept, "
            "tested anyway: the best configurations sit at the edge of stability; lower the LR range."
        )


def evaluate_test(model: torch.nn.Module, data: Data, experiment: Experiment) -> dict[str, float]:
    """``model`` evaluated once on the test split: ``test_loss``, ``test_acc``, …"""
    device = next(model.parameters()).device
    test = evaluate(
        model, data.x_test.to(device), data.y_test.to(device), data, experiment.train.eval_batch_size
    )
    return {f"test_{key}": value for key, value in test.items()}


def final_experiment(sampled: Experiment, best_epoch: int | None) -> Experiment:
    """``sampled`` as the final retrain runs it: nothing held out, so early stopping and plateau
    cuts are off; when early stopping cut the trial short, it trains to the trial's best epoch."""
    data = sampled.model_dump()
    if sampled.early_stopping.enabled and best_epoch:
        data["train"]["epochs"] = max(1, int(best_epoch))
    data["early_stopping"]["enabled"] = False
    data["plateau"]["enabled"] = False
    data["task"]["val_fraction"] = 0.0
    return validate(data)


def merged_data(experiment: Experiment) -> Data:
    """Training and validation data together (standardized with both), evaluated each epoch
    on the same data; the test split as it is."""
    task = experiment.task
    raw = load_dataset(task.dataset, data_dir=task.data_dir, seed=experiment.train.seed, normalize=False)
    x, y = raw.x_train, raw.y_train
    if raw.x_val is not None and raw.y_val is not None:
        x, y = torch.cat([x, raw.x_val]), torch.cat([y, raw.y_val])
    return normalize(dataclasses.replace(raw, x_train=x, y_train=y, x_val=x, y_val=y))
