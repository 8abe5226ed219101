"""Best validation accuracy found by ``lrlab.tune``'s defaults, plain Optuna and random search
at an equal budget of training epochs.

Cases (the test split is never used: every method maximizes ``val_acc`` at a trial's best epoch,
on a validation fraction of the training data):

* ``MLP/digits``: the tuning quickstart (``lrlab tune --preset quickstart``): ``mlp(widths=[128,
  64])`` on scikit-learn's digits, 20 % held out for validation, batch 64, 20 epochs per trial,
  SGD with momentum 0.9.
* ``LeNet/mnist-8k``: LeNet on the first 8,000 images of the MNIST test set
  (``../shared/datasets/mnist-test``; the last 2,000 are the test split, never looked at), 10 %
  of the 8,000 held out for validation, batch 128, ``--mnist-epochs`` per trial, SGD with
  momentum 0.9.

Seeds: 0–4 by default (five: with three, the spread of one method's best over the seeds,
0.006–0.01, is larger than the differences between the methods).

Methods, each run once per case and seed (``train.seed`` = the seed: the same validation split
and initialization for all three; the seed of each sampler too):

* ``lrlab``: ``lrlab.tune.tune`` with its defaults: the built-in space of the optimizer (SGD: LR,
  1 − momentum and weight decay on a log scale, warmup length, schedule family), multivariate
  TPE, ASHA pruning (one rung, at half of a trial's epochs, keeping a third; never at the last
  epoch), ``--trials`` trials (30, ``TuneConfig``'s default).
* ``optuna``: plain Optuna: ``TPESampler`` + ``MedianPruner`` (both with Optuna's defaults) over
  ``lr ∈ loguniform(1e-5, 10)`` only, the rest of the experiment as written (constant LR);
  each trial is trained by ``lrlab tune``'s own ``Objective.fit_one`` (the same ``fit``, the
  divergence guard, ``metrics.csv``), which ``trial.report``s ``val_acc`` after every epoch and
  here may be pruned at any epoch (Optuna's plain protocol).
* ``random``: the same objective with ``RandomSampler`` and no pruning.

The test split is looked at once per method, case and seed, after the search: the
configuration each method chose (its best trial) is retrained on train + validation and
evaluated on the test split, as ``lrlab tune --final`` does (the same retrain for all three).
The best validation accuracy is a maximum over noisy evaluations (on digits one of the 288
validation images is 0.0035); the test accuracy of the choice says which method chose better.

Budget: the cap on training epochs per method, case and seed is ``--trials`` × epochs per trial
(every trial of lrlab's study could train to the end and stay within it). The baselines start
trials while a whole one still fits under the cap; lrlab's study stops at its ``--trials``
trials. Epochs are counted as trained, pruned trials included. The table gives, per case and
method, the mean ± standard deviation over the seeds of the best validation accuracy and the
mean total epochs; the target (lrlab's mean at least that of both baselines, with fewer mean
epochs than both) is checked per case, on the validation accuracy.

Usage::

    .venv/bin/python bench/tune_efficiency.py [--seeds 0 1 2 3 4] [--trials 30] [--mnist-epochs 3]
        [--digits-epochs 20] [--cases digits mnist] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch

import lrlab
from lrlab.config import Experiment
from lrlab.data import Data
from lrlab.train.setup import load_data
from lrlab.tune import TuneConfig, tune
from lrlab.tune.final import final_candidates, merged_data, retrain_first_sound
from lrlab.tune.objective import Objective
from lrlab.tune.presets import load_tune_preset
from lrlab.tune.space import build_space

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-test"
NAIVE_LOW, NAIVE_HIGH = 1e-5, 10.0
METHODS = ("lrlab", "optuna", "random")
MONITOR = "val_acc"


def digits(seed: int, epochs: int) -> Experiment:
    """The tuning quickstart (MLP on digits, SGD's built-in space) with ``seed``."""
    experiment = load_tune_preset("quickstart")
    train = experiment.train.model_copy(update={"seed": seed, "epochs": epochs})
    return experiment.model_copy(update={"name": f"digits-seed{seed}", "train": train})


def mnist_8k(seed: int, epochs: int) -> Experiment:
    """The quickstart's settings with LeNet on mnist-8k, 10 % of the 8,000 held out, batch 128."""
    images, labels = DATA_DIR / "t10k-images-idx3-ubyte.gz", DATA_DIR / "t10k-labels-idx1-ubyte.gz"
    if not images.exists() or not labels.exists():
        sys.exit(f"mnist-test files not found in {DATA_DIR}; this benchmark needs them.")
    experiment = load_tune_preset("quickstart")
    dataset = f'idx(images="{images}", labels="{labels}", test_size=2000)'
    task = experiment.task.model_copy(update={"dataset": dataset, "model": "lenet", "val_fraction": 0.1})
    train = experiment.train.model_copy(update={"seed": seed, "epochs": epochs, "batch_size": 128})
    return experiment.model_copy(update={"name": f"mnist8k-seed{seed}", "task": task, "train": train})


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int, int], Experiment]
    epochs: int


@dataclass(frozen=True)
class Outcome:
    """One search: the best validation accuracy, the test accuracy of the configuration it
    chose (retrained on train + validation, as ``lrlab tune --final`` does), the epochs trained,
    trials and seconds."""

    best: float
    test: float
    epochs: int
    trials: int
    pruned: int
    seconds: float


def run_lrlab(experiment: Experiment, trials: int, out: Path) -> Outcome:
    """``lrlab.tune`` with its default sampler, pruner and built-in space."""
    began = time.perf_counter()
    result = tune(experiment, TuneConfig(trials=trials, out=out, report=False, final=True))
    seconds = time.perf_counter() - began
    study = optuna.load_study(
        study_name=result.study_name, storage=f"sqlite:///{result.directory / 'study.db'}"
    )
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    epochs = sum(int(t.user_attrs.get("epochs", 0)) for t in finished)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in finished)
    best = result.best.value if result.best is not None else math.nan
    test = result.final["test"]["test_acc"] if result.final is not None else math.nan
    return Outcome(float(best), test, epochs, len(finished), pruned, seconds)


def run_plain(
    experiment: Experiment,
    data: Data,
    *,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    cap: int,
    out: Path,
) -> Outcome:
    """An Optuna study over ``lr`` in the naive range, one ``fit`` per trial, until the next
    trial could pass ``cap`` epochs."""
    epochs_per_trial, used = experiment.train.epochs, 0
    trainer = Objective(build_space(experiment), out)  # lrlab's own trial fit, pruned at any epoch

    def objective(trial: optuna.Trial) -> float:
        nonlocal used
        lr = trial.suggest_float("lr", NAIVE_LOW, NAIVE_HIGH, log=True)
        optimizer = experiment.optimizer.model_copy(update={"lr": lr})
        trial_experiment = experiment.model_copy(update={"optimizer": optimizer})
        fold = trainer.fit_one(trial_experiment, data, out / f"{trial.number:04d}", trial, offset=0)
        used += fold.epochs
        trial.set_user_attr("best_epoch", fold.best_epoch)
        trial.set_user_attr("retrain_bar", fold.retrain_bar)
        if fold.pruned:
            raise optuna.TrialPruned()
        return max(fold.value, 0.0)  # no finite val_acc: a diverged trial

    began = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    while used + epochs_per_trial <= cap:
        study.optimize(objective, n_trials=1)
    seconds = time.perf_counter() - began
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    if not complete:
        return Outcome(math.nan, math.nan, used, len(trials), pruned, seconds)
    return Outcome(float(study.best_value), final_test(experiment, study), used, len(trials), pruned, seconds)


def final_test(experiment: Experiment, study: optuna.Study) -> float:
    """The test accuracy of the study's choice retrained on train + validation, as ``lrlab tune
    --final`` retrains lrlab's (the same data, epochs, evaluation and move to the next best trial
    when a retrain collapses)."""

    def trained(trial: optuna.trial.FrozenTrial) -> Experiment:
        optimizer = experiment.optimizer.model_copy(update=trial.params)
        return experiment.model_copy(update={"optimizer": optimizer})

    summary = retrain_first_sound(final_candidates(study, trained), merged_data(experiment), None, [])
    return float(summary["test"]["test_acc"])


def run_case(case: Case, seed: int, trials: int, scratch: Path) -> dict[str, Outcome]:
    experiment = case.build(seed, case.epochs)
    cap = trials * case.epochs
    data = load_data(experiment)
    outcomes = {"lrlab": run_lrlab(experiment, trials, scratch / "lrlab")}
    tpe = optuna.samplers.TPESampler(seed=seed)
    outcomes["optuna"] = run_plain(
        experiment, data, sampler=tpe, pruner=optuna.pruners.MedianPruner(), cap=cap, out=scratch / "optuna"
    )
    rand = optuna.samplers.RandomSampler(seed=seed)
    outcomes["random"] = run_plain(
        experiment, data, sampler=rand, pruner=optuna.pruners.NopPruner(), cap=cap, out=scratch / "random"
    )
    for method, o in outcomes.items():
        print(
            f"{case.name} seed {seed} {method}: best val_acc {o.best:.4f}, test_acc {o.test:.4f}, "
            f"{o.epochs}/{cap} epochs, "
            f"{o.trials} trials ({o.pruned} pruned), {o.seconds:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return outcomes


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


def _paired(runs: list[dict[str, Outcome]], baseline: str, measure: str = "best") -> str:
    """The mean over seeds of lrlab's ``measure`` minus ``baseline``'s, with its standard error
    (the same seed shares the split and initialization: the differences are paired)."""
    differences = [getattr(run["lrlab"], measure) - getattr(run[baseline], measure) for run in runs]
    error = statistics.stdev(differences) / math.sqrt(len(differences)) if len(differences) > 1 else math.nan
    mean = statistics.fmean(differences)
    return f"{mean:+.4f} ± {error:.4f} (standard error over {len(differences)} seeds)"


def print_table(results: dict[str, list[dict[str, Outcome]]], cases: list[Case], trials: int) -> bool:
    header = (
        f"{'case':<16} {'method':<8} {'best val_acc (mean ± std)':>26} {'test_acc':>9} {'epochs (mean)':>14} "
        f"{'cap':>6} "
        f"{'trials':>7} {'pruned':>7} {'s':>6}"
    )
    print(header + "\n" + "-" * len(header))
    held_everywhere = True
    verdicts = []
    for case in cases:
        runs = results[case.name]
        means: dict[str, tuple[float, float]] = {}
        for method in METHODS:
            outs = [run[method] for run in runs]
            best = [o.best for o in outs]
            epochs = statistics.fmean(o.epochs for o in outs)
            means[method] = (statistics.fmean(best), epochs)
            count, pruned = statistics.fmean(o.trials for o in outs), statistics.fmean(o.pruned for o in outs)
            seconds = statistics.fmean(o.seconds for o in outs)
            print(
                f"{case.name:<16} {method:<8} {_mean_std(best):>26} "
                f"{statistics.fmean(o.test for o in outs):>9.4f} {epochs:>14.1f} "
                f"{trials * case.epochs:>6} {count:>7.1f} {pruned:>7.1f} {seconds:>6.0f}"
            )
        accuracy = all(means["lrlab"][0] >= means[m][0] for m in ("optuna", "random"))
        fewer = all(means["lrlab"][1] < means[m][1] for m in ("optuna", "random"))
        per_seed = sum(all(run["lrlab"].best >= run[m].best for m in ("optuna", "random")) for run in runs)
        held = accuracy and fewer
        held_everywhere &= held
        verdicts.append(
            f"{case.name}: target {'held' if held else 'NOT held'} (accuracy at least both: "
            f"{'yes' if accuracy else 'no'}; fewer epochs than both: {'yes' if fewer else 'no'}; "
            f"lrlab at least both in {per_seed}/{len(runs)} seeds)"
        )
        verdicts += [f"  lrlab − {m}: {_paired(runs, m)}" for m in ("optuna", "random")]
        verdicts += [f"  test_acc, lrlab − {m}: {_paired(runs, m, 'test')}" for m in ("optuna", "random")]
    print("\n" + "\n".join(verdicts))
    return held_everywhere


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=30, help="lrlab's trials; cap = trials × epochs")
    parser.add_argument("--digits-epochs", type=int, default=20, help="epochs per trial, MLP/digits")
    parser.add_argument("--mnist-epochs", type=int, default=3, help="epochs per trial, LeNet/mnist-8k")
    parser.add_argument("--cases", nargs="+", choices=("digits", "mnist"), default=["digits", "mnist"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("lrlab.tune").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    available = {
        "digits": Case("MLP/digits", digits, args.digits_epochs),
        "mnist": Case("LeNet/mnist-8k", mnist_8k, args.mnist_epochs),
    }
    cases = [available[name] for name in args.cases]
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    results: dict[str, list[dict[str, Outcome]]] = {case.name: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="tune-efficiency-") as scratch:
        for case in cases:
            for seed in args.seeds:
                folder = Path(scratch) / f"{case.name.replace('/', '-')}-seed{seed}"
                results[case.name].append(run_case(case, seed, args.trials, folder))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    versions = (
        f"torch {torch.__version__}, optuna {optuna.__version__}, lrlab {lrlab.__version__}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"\ntune efficiency: best val_acc at an equal cap of training epochs (--trials {args.trials} × "
        f"epochs per trial), seeds {' '.join(map(str, args.seeds))}"
    )
    print(f"machine: {platform.node()} ({machine}; {versions})")
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"wall time: {time.perf_counter() - began:.0f} s\n")
    held = print_table(results, cases, args.trials)
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
