"""When the search ends: ``trials.csv``, ``best.toml`` (a file ``lrlab train`` accepts), the
optional final retrain and the report.

The final retrain (``--final``) trains the best configuration once more on the training and
validation data together, its schedule sized for that data, for the trial's epochs (its best
epoch when early stopping cut it short; early stopping and plateau cuts are off, as nothing is
held out to watch), then evaluates the test split once. ``final-trial<n>/`` holds
``config.json``, ``metrics.csv`` (its ``val_*`` columns are measured on the training data),
``model.pt`` (a state dict: ``--init-from`` takes it) and ``summary.json`` with the test
metrics; running the command again reuses it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.trial import FrozenTrial

from lrlab.config import Experiment, to_toml, validate
from lrlab.data import Data, load_dataset
from lrlab.data.dataset import normalize
from lrlab.train import evaluate, fit
from lrlab.train.logging import MetricsCsv, write_text_atomic
from lrlab.train.run import build_model_and_optimizer, fit_config
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
        final = final_retrain(job, space, best)
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


def final_retrain(job: Job, space: SearchSpace, best: FrozenTrial) -> dict[str, Any]:
    """Train the best configuration on train + validation and evaluate the test split once."""
    folder = job.folder / f"final-trial{best.number}"
    summary_path = folder / "summary.json"
    if summary_path.exists():
        return dict(json.loads(summary_path.read_text(encoding="utf-8")))
    data = merged_data(space.base)
    fixed = optuna.trial.FixedTrial(best.params)
    sampled = space.sample(fixed, train_size=len(data.x_train), scaling=job.config.scaling(space.base))
    experiment = _final_experiment(sampled, best)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"experiment": experiment.model_dump(mode="json"), "trial": best.number, "final": True}
    write_text_atomic(folder / "config.json", json.dumps(record, indent=2) + "\n")
    model, optimizer, _ = build_model_and_optimizer(experiment, data)
    result = fit(
        model,
        data,
        optimizer,
        experiment.schedule,
        config=fit_config(experiment),
        callbacks=[MetricsCsv(folder)],
        run_dir=folder,
    )
    device = next(model.parameters()).device
    test = evaluate(
        model, data.x_test.to(device), data.y_test.to(device), data, experiment.train.eval_batch_size
    )
    _save_weights(model.state_dict(), folder / "model.pt")
    summary = {
        "trial": best.number,
        "epochs": len(result.history),
        "train_samples": len(data.x_train),
        "stop_reason": result.stop_reason,
        "final": result.final,
        "test": {f"test_{key}": value for key, value in test.items()},
        "wall_time_s": result.seconds,
        "run_dir": str(folder),
    }
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary


def _final_experiment(sampled: Experiment, best: FrozenTrial) -> Experiment:
    data = sampled.model_dump()
    if sampled.early_stopping.enabled and best.user_attrs.get("best_epoch"):
        data["train"]["epochs"] = max(1, int(best.user_attrs["best_epoch"]))
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
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
