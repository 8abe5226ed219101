"""When the search ends: ``trials.csv``, ``best.toml`` (a file ``lrlab train`` accepts), the
optional final retrain (:mod:`lrlab.tune.final`) and the report, gathered in a :class:`TuneResult`."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from lrlab.config import Experiment, to_toml, validate
from lrlab.record import write_text
from lrlab.tune.budget import FINISHED, OVER_BUDGET, Budget, epochs_spent
from lrlab.tune.final import final_retrain
from lrlab.tune.space import SearchSpace
from lrlab.tune.storage import open_storage, shown_url
from lrlab.tune.study import budget_of
from lrlab.tune.workers import Job

BEST = "best.toml"
TRIALS_CSV = "trials.csv"


@dataclass(frozen=True)
class TuneResult:
    """What a study holds when ``tune`` returns; ``best`` is ``None`` when no trial completed."""

    directory: Path
    study_name: str
    storage: str
    counts: dict[str, int]
    best: optuna.trial.FrozenTrial | None
    monitor: str
    best_toml: Path | None = None
    report: Path | None = None
    final: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    epochs_spent: int = 0  # training epochs of all its trials, pruned and failed ones included
    budget_epochs: int | None = None  # --budget-epochs, if given


def finish(job: Job, space: SearchSpace, notes: list[str]) -> TuneResult:
    """Read the study back and write what it found (see the module docs)."""
    storage = open_storage(job.url, heartbeat=job.config.heartbeat)
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    counts = Counter("not run" if t.user_attrs.get(OVER_BUDGET) else t.state.name.lower() for t in trials)
    budget = budget_of(space, job.config)
    if budget.next_step(trials) != "stop":
        notes.append(_unfinished(budget, trials))
    best = study.best_trial if counts["complete"] else None
    best_toml = write_best(job.folder, study, best) if best is not None else None
    final = None
    if job.config.final and best is not None:
        final = final_retrain(space, study, job.folder, job.config.scaling(space.base), notes)
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
        epochs_spent=epochs_spent(trials),
        budget_epochs=budget.limits.epochs,
    )


def _unfinished(budget: Budget, trials: list[FrozenTrial]) -> str:
    """The note on a study stopped short of its limits (by ``--timeout``, or workers that
    stopped early)."""
    held = []
    if budget.limits.trials is not None:
        finished = sum(t.state in FINISHED for t in trials)
        held.append(f"holds {finished} of {budget.limits.trials} finished trials")
    if budget.limits.epochs is not None:
        held.append(f"has spent {epochs_spent(trials)} of {budget.limits.epochs} training epochs")
    return f"the study {' and '.join(held)}; run the same command again to continue it."


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
    write_text(path, "\n".join(header) + text)
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
    write_text(path, buffer.getvalue())
