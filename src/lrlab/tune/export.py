"""When the search ends: ``trials.csv``, ``best.toml`` (a file ``lrlab train`` accepts), the
optional final retrain and the report.

The final retrain (``--final``) trains the best configuration once more on the training and
validation data together, its schedule sized for that data, for the trial's epochs (its best
epoch when early stopping cut it short; early stopping and plateau cuts are off, as nothing is
held out to watch), then evaluates the test split once. ``final-trial<n>/`` holds
``config.json``, ``metrics.csv`` (its ``val_*`` columns are measured on the training data),
``model.pt`` (a state dict: ``--init-from`` takes it) and ``summary.json`` with the test
metrics; running the command again reuses it.

A configuration at the edge of stability can collapse on the retrain (a different data order
and size), or start late and end short of its trial: when its training loss ends non-finite, or
its monitored metric, measured on the data it trained on, ends worse than the worst its trial had
on held-out data in the second half of its epochs (:func:`collapsed`), the retrain moves on to
the next best trial, up to :data:`FINAL_CANDIDATES`, and says so (the test split is still
evaluated once, for the model kept).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.trial import FrozenTrial

from lrlab.config import Experiment, to_toml, validate
from lrlab.data import Data, load_dataset
from lrlab.data.dataset import normalize
from lrlab.errors import LrlabError
from lrlab.fileperm import follow_umask
from lrlab.train import Callback, FitResult, evaluate
from lrlab.train.logging import MetricsCsv, write_text_atomic
from lrlab.train.monitor import resolve_mode
from lrlab.tune.objective import fit_experiment
from lrlab.tune.space import SearchSpace
from lrlab.tune.storage import open_storage, shown_url
from lrlab.tune.study import TuneResult
from lrlab.tune.workers import OVER_BUDGET

if TYPE_CHECKING:
    from lrlab.tune.workers import Job

BEST = "best.toml"
TRIALS_CSV = "trials.csv"


def finish(job: Job, space: SearchSpace, notes: list[str]) -> TuneResult:
    """Read the study back and write what it found (see the module docs)."""
    storage = open_storage(job.url, heartbeat=job.config.heartbeat)
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    counts = Counter("not run" if t.user_attrs.get(OVER_BUDGET) else t.state.name.lower() for t in trials)
    finished = counts["complete"] + counts["pruned"]
    if finished < job.config.trials:
        notes.append(
            f"the study holds {finished} of {job.config.trials} finished trials; run the same "
            "command again to continue it."
        )
    best = study.best_trial if counts["complete"] else None
    best_toml = write_best(job.folder, study, best) if best is not None else None
    final = None
    if job.config.final and best is not None:
        final = final_retrain(job, space, study, notes)
    write_trials_csv(trials, job.folder / TRIALS_CSV)
    report = None
    if job.config.report:
        from lrlab.tune.report import build_tune_report

        report = build_tune_report(job.folder, study, final=final, storage=shown_url(job.url))
    return TuneResult(
        directory=job.folder,
        study_name=job.study_name,
        storage=shown_url(job.url),
        counts=dict(counts),
        best=best,
        monitor=job.experiment.early_stopping.monitor,
        best_toml=best_toml,
        report=report,
        final=final,
        notes=notes,
    )


def best_experiment(trial: FrozenTrial) -> Experiment:
    """The experiment a trial trained (stored with it as a user attribute)."""
    return validate(trial.user_attrs["experiment"])


def write_best(folder: Path, study: optuna.Study, trial: FrozenTrial) -> Path:
    """``best.toml``: the best trial's experiment, with a comment saying where it comes from."""
    monitor = study.user_attrs.get("lrlab", {}).get("monitor", "value")
    spread = trial.user_attrs.get("cv_std")
    folds = len(trial.user_attrs.get("cv_values", ()))
    value = f"{monitor} {trial.value:.6g}" + (f" (mean of {folds} folds, std {spread:.3g})" if folds else "")
    header = [
        f"# The best configuration of study {study.study_name!r} (lrlab tune): trial {trial.number},",
        f"# {value}. Train it with: lrlab train best.toml",
        "",
    ]
    path = folder / BEST
    text = to_toml(best_experiment(trial)).removesuffix("\n\n[search]\n") + "\n"  # nothing to search
    write_text_atomic(path, "\n".join(header) + text)
    return path


def write_trials_csv(trials: list[FrozenTrial], path: Path) -> None:
    """One row per trial: number, state, value, spread over folds, epochs, time, parameters."""
    names = list(dict.fromkeys(name for trial in trials for name in trial.params))
    columns = ["number", "state", "value", "cv_std", "epochs", "seconds", "run_dir", *names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for trial in trials:
        writer.writerow(
            {
                "number": trial.number,
                "state": "not run" if trial.user_attrs.get(OVER_BUDGET) else trial.state.name.lower(),
                "value": "" if trial.value is None else repr(trial.value),
                "cv_std": trial.user_attrs.get("cv_std", ""),
                "epochs": trial.user_attrs.get("epochs", ""),
                "seconds": "" if trial.duration is None else f"{trial.duration.total_seconds():.3f}",
                "run_dir": trial.user_attrs.get("run_dir", ""),
                **trial.params,
            }
        )
    write_text_atomic(path, buffer.getvalue())


FINAL_CANDIDATES = 3  # the best trials the final retrain tries in turn while one collapses


@dataclass(frozen=True)
class Candidate:
    """A trial the final retrain may train: its number, its experiment as the retrain runs it
    (:func:`final_experiment`) and the worst monitored value of its second half in the study
    (held-out data), which the retrain must reach on its own training data."""

    number: int
    experiment: Experiment
    retrain_bar: float | None = None


def final_retrain(job: Job, space: SearchSpace, study: optuna.Study, notes: list[str]) -> dict[str, Any]:
    """Train the best configuration on train + validation and evaluate the test split once; when
    that retrain collapses, the next best trial's (:func:`retrain_first_sound`)."""
    data = merged_data(space.base)
    scaling = job.config.scaling(space.base)

    def trained(trial: FrozenTrial) -> Experiment:
        fixed = optuna.trial.FixedTrial(trial.params)
        return space.sample(fixed, train_size=len(data.x_train), scaling=scaling)

    return retrain_first_sound(final_candidates(study, trained), data, job.folder, notes)


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
        summary = _stored_summary(where)
        last = index == len(candidates) - 1
        if summary is None:
            summary = _retrain(candidate, data, where, keep=last, skipped=skipped)
        if "test" in summary:
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
        folder.mkdir(parents=True, exist_ok=True)
        record = {"experiment": experiment.model_dump(mode="json"), "trial": candidate.number, "final": True}
        write_text_atomic(folder / "config.json", json.dumps(record, indent=2) + "\n")
        callbacks.append(MetricsCsv(folder))
    model, result = fit_experiment(experiment, data, callbacks=callbacks, run_dir=folder)
    summary: dict[str, Any] = {
        "trial": candidate.number,
        "epochs": len(result.history),
        "train_samples": len(data.x_train),
        "stop_reason": result.stop_reason,
        "final": result.final,
        "collapsed": collapsed(result, candidate),
        "wall_time_s": result.seconds,
        "run_dir": None if folder is None else str(folder),
    }
    if summary["collapsed"] is None or keep:
        summary["test"] = evaluate_test(model, data, experiment)
        summary["skipped"] = list(skipped)
        if folder is not None:
            _save_weights(model.state_dict(), folder / "model.pt")
    if folder is not None:
        write_text_atomic(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
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


def _stored_summary(folder: Path | None) -> dict[str, Any] | None:
    if folder is None or not (folder / "summary.json").exists():
        return None
    return dict(json.loads((folder / "summary.json").read_text(encoding="utf-8")))


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


def _save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        torch.save({key: value.detach().cpu() for key, value in state.items()}, temporary)
        follow_umask(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
