"""Tuners judged by what they pick: the test metric of each method's chosen configuration, and
the training epochs each spent, paired per seed.

Cases (every method maximizes or minimizes the monitored metric at a trial's best epoch on held
out data; the test data are looked at once per method and seed, for the configuration chosen):

* ``digits``: the tuning quickstart (``lrlab tune --preset quickstart``): ``mlp(widths=[128,
  64])`` on scikit-learn's digits, 20 % held out, batch 64, 20 epochs per trial, SGD
  (momentum 0.9 as written); ``val_acc``, test ``test_acc``.
* ``mnist``: LeNet on the first 8,000 images of the MNIST test set
  (``../shared/datasets/mnist-test``; the last 2,000 are the test split), 10 % of the 8,000 held
  out, batch 128, 3 epochs per trial, SGD (momentum 0.9); ``val_acc``, test ``test_acc``.
* ``charlm``: a character transformer (2 layers, 2 heads, width 64) on tinyshakespeare: the
  first 900,000 characters train, the next 100,000 validate, the 100,000 after them are the
  test text; context 32, batch 16, 4 epochs of 50 updates per trial, per-step schedules, AdamW
  (lr 1e-3 as written); ``val_loss`` (nats per character, 128 windows), test loss on 128
  windows of the test text. (Small, so that ten seeds of four methods fit in an hour on two
  cores.)

Methods (``train.seed`` = the seed: the same split and initialization for all; the sampler's
seed too):

* ``lrlab``: ``lrlab.tune.tune`` with its defaults (the optimizer's built-in space: LR,
  optimizer settings, warmup, schedule family; multivariate TPE; ASHA; its default budget), or
  with ``--lrlab`` overrides of ``TuneConfig`` (a variant, cached under its own name).
* ``optuna``: plain Optuna: ``TPESampler`` + ``MedianPruner`` (Optuna's defaults) over
  ``lr ∈ loguniform(1e-5, 10)`` only, the rest as written (constant LR), trials started while a
  whole one fits under the cap of ``30 × epochs per trial``.
* ``random``: the same objective with ``RandomSampler`` and no pruning.
* ``topk``: the one-epoch baseline (Egele et al. 2023): configurations drawn at random from
  lrlab's own space, each trained one epoch (of its full schedule); the best ``K`` are trained
  to the end and the best of those is chosen. Half of its budget screens, half trains the ``K``
  (``--topk-budget``, default: 15 × epochs per trial, lrlab's default budget).

Every trial of every method trains with ``lrlab``'s own ``fit`` (the divergence guard, the same
data). The choice of each method is tested as ``lrlab tune --final`` tests lrlab's: retrained on
training + validation data (moving on to the next best when a retrain collapses), then the test
split once; on ``charlm`` (a corpus, whose split is its own) the chosen configuration is
trained as its trial was and scored on the test text. Epochs are counted from the trials'
records, pruned and failed trials included; the final retrain is not counted (every method
pays it once).

Results are cached per case, seed and method (``bench/.cache/tune_efficiency.json``): a new
lrlab variant reruns lrlab only. ``--jobs`` runs that many (case, seed, method) in parallel
processes, one torch thread each.

The target, per case: lrlab's mean epochs at most half of plain Optuna's, lrlab's test metric
no worse than plain Optuna's by more than one standard error of the paired difference, and
lrlab ahead of ``topk`` (a paired mean difference in lrlab's favour).

Usage::

    .venv/bin/python bench/tune_efficiency.py [--seeds 0 … 9] [--cases digits mnist charlm]
        [--methods lrlab optuna random topk] [--lrlab key=value …] [--jobs 2] [--fresh]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import math
import multiprocessing
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
from typing import Any

import optuna
import torch

import lrlab
from lrlab.config import Experiment, validate
from lrlab.data import Data
from lrlab.task import Task
from lrlab.train import Callback, Run
from lrlab.train.setup import load_task
from lrlab.tune import TuneConfig, tune
from lrlab.tune.final import Candidate, final_candidates, merged_data, retrain_first_sound
from lrlab.tune.objective import Objective, fit_experiment, updates_per_epoch
from lrlab.tune.presets import load_tune_preset
from lrlab.tune.space import SearchSpace, build_space

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
CACHE = ROOT / "bench" / ".cache" / "tune_efficiency.json"
NAIVE_LOW, NAIVE_HIGH = 1e-5, 10.0
PLAIN_TRIALS = 30  # plain Optuna and random search: a cap of this many whole trials' epochs
TOPK_TRIALS = 15  # the one-epoch baseline's default budget, in whole trials' epochs
METHODS = ("lrlab", "optuna", "random", "topk")
TRAIN_CHARS, VAL_CHARS, TEST_CHARS = 900_000, 100_000, 100_000


# --- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int], Experiment]
    monitor: str
    test_metric: str
    maximize: bool

    def epochs(self) -> int:
        return self.build(0).train.epochs


def digits(seed: int) -> Experiment:
    """The tuning quickstart (MLP on digits, SGD's built-in space) with ``seed``."""
    experiment = load_tune_preset("quickstart")
    train = experiment.train.model_copy(update={"seed": seed})
    return experiment.model_copy(update={"name": f"digits-seed{seed}", "train": train})


def mnist(seed: int) -> Experiment:
    """The quickstart's settings with LeNet on mnist-8k, 10 % of the 8,000 held out, batch 128."""
    folder = DATASETS / "mnist-test"
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    experiment = load_tune_preset("quickstart")
    dataset = f'idx(images="{images}", labels="{labels}", test_size=2000)'
    task = experiment.task.model_copy(update={"dataset": dataset, "model": "lenet", "val_fraction": 0.1})
    train = experiment.train.model_copy(update={"seed": seed, "epochs": 3, "batch_size": 128})
    return experiment.model_copy(update={"name": f"mnist8k-seed{seed}", "task": task, "train": train})


def corpus_files() -> tuple[Path, Path]:
    """Two files cut from tinyshakespeare, each split 90/10 by the ``text`` task: the tuning
    corpus (train + validation) and the test corpus (the same training text + the test text)."""
    text = (DATASETS / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    folder = CACHE.parent
    folder.mkdir(parents=True, exist_ok=True)
    tuning, testing = folder / "shakespeare-tune.txt", folder / "shakespeare-test.txt"
    train = text[:TRAIN_CHARS]
    parts = {
        tuning: train + text[TRAIN_CHARS : TRAIN_CHARS + VAL_CHARS],
        testing: train + text[TRAIN_CHARS + VAL_CHARS : TRAIN_CHARS + VAL_CHARS + TEST_CHARS],
    }
    for path, content in parts.items():
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return tuning, testing


def text_dataset(path: Path) -> str:
    return f"text(path='{path}', context=32, steps_per_epoch=50, val_windows=128)"


def charlm(seed: int) -> Experiment:
    """The character transformer on the tuning corpus, AdamW's built-in space, ``val_loss``."""
    tuning, _ = corpus_files()
    return validate(
        {
            "name": f"charlm-seed{seed}",
            "task": {
                "dataset": text_dataset(tuning),
                "model": "char-transformer(layers=2, heads=2, width=64, dropout=0.0)",
            },
            "train": {"epochs": 4, "batch_size": 16, "seed": seed, "interval": "step", "device": "cpu"},
            "optimizer": {"name": "adamw", "lr": 1e-3},
            "early_stopping": {"monitor": "val_loss"},
            "search": {"space": "adamw"},
        }
    )


CASES = {
    "digits": Case("MLP/digits", digits, "val_acc", "test_acc", True),
    "mnist": Case("LeNet/mnist-8k", mnist, "val_acc", "test_acc", True),
    "charlm": Case("chars/shakespeare", charlm, "val_loss", "test_loss", False),
}


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One search: the best held-out value, the test metric of its choice, the epochs trained
    (pruned and failed trials included), trials, pruned trials and seconds."""

    best: float
    test: float
    epochs: int
    trials: int
    pruned: int
    seconds: float


def test_of_choice(case: Case, study: optuna.Study, trained: Callable[[Any], Experiment]) -> float:
    """The test metric of ``study``'s choice: retrained on training + validation data as
    ``lrlab tune --final`` retrains (the next best when one collapses), or, on the corpus, its
    trial's training scored on the test text."""
    candidates = final_candidates(study, trained)
    if not candidates:
        return math.nan
    if case.name.startswith("chars"):
        return corpus_test(candidates[0], case.build(0))
    experiment = candidates[0].experiment
    summary = retrain_first_sound(candidates, merged_data(experiment), None, [])
    return float(summary["test"][case.test_metric])


def corpus_test(candidate: Candidate, base: Experiment) -> float:
    """The candidate trained as its trial was (the same training text, batches and steps) and
    scored once on the test text: the validation loss of the test corpus's task."""
    _, testing = corpus_files()
    data = candidate.experiment.model_dump()
    data["task"] = base.task.model_dump() | {"dataset": text_dataset(testing)}
    data["train"]["epochs"] = base.train.epochs
    data["early_stopping"]["enabled"] = False
    experiment = validate(data)
    _, result = fit_experiment(experiment, load_task(experiment))
    return float(result.history[-1]["val_loss"])


def study_epochs(study: optuna.Study) -> tuple[int, int, int]:
    """Epochs trained (from the trials' records), trials run and trials pruned."""
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("over_budget")]
    epochs = sum(int(t.user_attrs.get("epochs", 0)) for t in trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    return epochs, len(trials), pruned


def sampled(space: SearchSpace, data: Data | Task) -> Callable[[Any], Experiment]:
    """A trial of ``space`` → its experiment (schedules sized to ``data``)."""

    def experiment(trial: Any) -> Experiment:
        fixed = optuna.trial.FixedTrial(trial.params)
        return space.sample(fixed, steps_per_epoch=updates_per_epoch(data, space.base))

    return experiment


def best_value(study: optuna.Study) -> float:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return float(study.best_value) if complete else math.nan


# --- methods ---------------------------------------------------------------------------------


def run_lrlab(case: Case, seed: int, overrides: dict[str, Any], out: Path) -> Outcome:
    """``lrlab.tune`` with its defaults (or ``overrides`` of ``TuneConfig``)."""
    experiment = case.build(seed)
    if "budget_trials" in overrides:  # a budget in whole trials' epochs, per case
        overrides = dict(overrides)
        overrides["budget_epochs"] = overrides.pop("budget_trials") * experiment.train.epochs
    began = time.perf_counter()
    result = tune(experiment, TuneConfig(out=out, report=False, **overrides))
    study = optuna.load_study(
        study_name=result.study_name, storage=f"sqlite:///{result.directory / 'study.db'}"
    )
    space = build_space(experiment)
    test = test_of_choice(case, study, sampled(space, load_task(experiment)))
    epochs, trials, pruned = study_epochs(study)
    return Outcome(best_value(study), test, epochs, trials, pruned, time.perf_counter() - began)


def run_plain(case: Case, seed: int, *, tpe: bool, out: Path) -> Outcome:
    """An Optuna study over ``lr`` in the naive range (TPE + median pruner, or random search
    without pruning), trials started while a whole one fits under the cap."""
    experiment = case.build(seed)
    epochs_per_trial = experiment.train.epochs
    cap, used = PLAIN_TRIALS * epochs_per_trial, 0
    data = load_task(experiment)
    trainer = Objective(build_space(experiment), out)  # lrlab's own trial fit, pruned at any epoch

    def with_lr(params: dict[str, Any]) -> Experiment:
        optimizer = experiment.optimizer.model_copy(update=params)
        return experiment.model_copy(update={"optimizer": optimizer})

    def objective(trial: optuna.Trial) -> float:
        nonlocal used
        trial_experiment = with_lr({"lr": trial.suggest_float("lr", NAIVE_LOW, NAIVE_HIGH, log=True)})
        fold = trainer.fit_one(trial_experiment, data, out / f"{trial.number:04d}", trial, offset=0)
        used += fold.epochs
        trial.set_user_attr("best_epoch", fold.best_epoch)
        trial.set_user_attr("retrain_bar", fold.retrain_bar)
        if fold.pruned:
            raise optuna.TrialPruned()
        return fold.value  # the worst possible when no epoch was finite (a diverged trial)

    sampler = optuna.samplers.TPESampler(seed=seed) if tpe else optuna.samplers.RandomSampler(seed=seed)
    pruner = optuna.pruners.MedianPruner() if tpe else optuna.pruners.NopPruner()
    began = time.perf_counter()
    study = optuna.create_study(direction=_direction(case), sampler=sampler, pruner=pruner)
    while used + epochs_per_trial <= cap:
        study.optimize(objective, n_trials=1)
    test = test_of_choice(case, study, lambda trial: with_lr(trial.params))
    epochs, trials, pruned = study_epochs(study)
    return Outcome(best_value(study), test, epochs, trials, pruned, time.perf_counter() - began)


class StopAfter(Callback):
    """Stops a fit after ``epochs`` epochs (a low-fidelity evaluation)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, run: Run, metrics: Any) -> None:
        if int(metrics["epoch"]) >= self.epochs:
            run.stop("stopped", f"screened after {self.epochs} epoch(s)")


def run_topk(case: Case, seed: int, budget: int, out: Path) -> Outcome:
    """Random configurations of lrlab's space trained one epoch; the best K trained fully."""
    experiment = case.build(seed)
    epochs_per_trial = experiment.train.epochs
    screened = budget // 2
    keep = max(1, (budget - screened) // epochs_per_trial)
    space, data = build_space(experiment), load_task(experiment)
    sizes = updates_per_epoch(data, experiment)
    worst = -math.inf if case.maximize else math.inf
    began = time.perf_counter()
    screen = optuna.create_study(direction=_direction(case), sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(screened):
        trial = screen.ask()
        _, result = fit_experiment(space.sample(trial, steps_per_epoch=sizes), data, callbacks=[StopAfter(1)])
        value = result.history[-1].get(case.monitor, math.nan) if result.history else math.nan
        screen.tell(trial, value if math.isfinite(value) else worst)
    ranked = sorted(screen.get_trials(deepcopy=False), key=_value, reverse=case.maximize)
    full = optuna.create_study(direction=_direction(case))
    trainer = Objective(space, out)
    used = screened
    for screened_trial in ranked[:keep]:
        full.enqueue_trial(screened_trial.params)
        trial = full.ask()
        trial_experiment = space.sample(trial, steps_per_epoch=sizes)
        fold = trainer.fit_one(trial_experiment, data, out / f"full{trial.number:04d}", trial, offset=0)
        used += fold.epochs
        trial.set_user_attr("best_epoch", fold.best_epoch)
        trial.set_user_attr("retrain_bar", fold.retrain_bar)
        full.tell(trial, fold.value)
    test = test_of_choice(case, full, sampled(space, data))
    return Outcome(best_value(full), test, used, screened + keep, 0, time.perf_counter() - began)


def _value(trial: optuna.trial.FrozenTrial) -> float:
    return float(trial.value) if trial.value is not None else math.nan


def _direction(case: Case) -> str:
    return "maximize" if case.maximize else "minimize"


# --- running, caching, reporting -------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    case: str
    seed: int
    method: str
    variant: str  # the cache key of lrlab's overrides or the top-K budget
    overrides: tuple[tuple[str, Any], ...] = ()
    topk_budget: int = 0

    def key(self) -> str:
        return f"{self.case}|{self.seed}|{self.method}|{self.variant}"


def run_job(job: Job) -> tuple[str, dict[str, Any]]:
    """One (case, seed, method) in a worker process: one torch thread, quiet logs."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("lrlab.tune").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    case = CASES[job.case]
    with tempfile.TemporaryDirectory(prefix="tune-efficiency-") as scratch:
        out = Path(scratch)
        if job.method == "lrlab":
            outcome = run_lrlab(case, job.seed, dict(job.overrides), out)
        elif job.method == "topk":
            outcome = run_topk(case, job.seed, job.topk_budget, out)
        else:
            outcome = run_plain(case, job.seed, tpe=job.method == "optuna", out=out)
    return job.key(), dataclasses.asdict(outcome)


def load_cache() -> dict[str, dict[str, Any]]:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def save_cache(cache: dict[str, dict[str, Any]]) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    temporary = CACHE.with_suffix(".tmp")
    temporary.write_text(json.dumps(cache, indent=1, sort_keys=True))
    temporary.replace(CACHE)


def run_all(jobs: list[Job], workers: int, fresh: bool) -> dict[str, Outcome]:
    cache = {} if fresh else load_cache()
    todo = [job for job in jobs if job.key() not in cache]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_job, job) for job in todo]
        for future in concurrent.futures.as_completed(futures):
            try:
                key, outcome = future.result()
            except Exception as error:  # one failed search is reported, the others go on
                print(f"a search failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                continue
            cache = load_cache() | cache | {key: outcome}
            save_cache(cache)
            print(f"{key}: {_line(Outcome(**outcome))}", file=sys.stderr, flush=True)
    return {job.key(): Outcome(**cache[job.key()]) for job in jobs if job.key() in cache}


def _line(o: Outcome) -> str:
    trials = f"{o.trials} trials ({o.pruned} pruned)"
    return f"best {o.best:.4f}, test {o.test:.4f}, {o.epochs} epochs, {trials}, {o.seconds:.0f} s"


def paired(values: list[tuple[float, float]], maximize: bool) -> tuple[float, float]:
    """Mean and standard error of lrlab's advantage (positive: lrlab better) over seeds."""
    advantages = [(a - b) if maximize else (b - a) for a, b in values]
    error = statistics.stdev(advantages) / math.sqrt(len(advantages)) if len(advantages) > 1 else math.nan
    return statistics.fmean(advantages), error


def report(case: Case, seeds: list[int], outcomes: dict[str, Outcome], jobs: list[Job]) -> bool:
    """The table of one case and its verdict; whether the target held."""
    keys = {(job.seed, job.method): job.key() for job in jobs if job.case == _case_key(case)}
    methods = [m for m in METHODS if all(keys.get((s, m)) in outcomes for s in seeds)]
    better = "higher" if case.maximize else "lower"
    print(f"\n{case.name}: test {case.test_metric} of the choice ({better} is better)")
    columns = ("test (mean)", "worst", "best held-out", "epochs", "trials", "pruned", "s")
    print(f"{'method':<8} " + " ".join(f"{column:>13}" for column in columns))
    for method in methods:
        outs = [outcomes[keys[(s, method)]] for s in seeds]
        worst = (min if case.maximize else max)(o.test for o in outs)
        means = [statistics.fmean(getattr(o, field) for o in outs) for field in ("best", "epochs", "trials")]
        pruned, seconds = (statistics.fmean(getattr(o, f) for o in outs) for f in ("pruned", "seconds"))
        scores = [statistics.fmean(o.test for o in outs), worst, means[0]]
        counts = [*means[1:], pruned]
        print(
            f"{method:<8} "
            + " ".join(f"{cell:>13.4f}" for cell in scores)
            + " ".join(f"{cell:>14.1f}" for cell in counts)
            + f" {seconds:>13.0f}"
        )
    if "lrlab" not in methods:
        return False
    held = True
    lrlab_epochs = statistics.fmean(outcomes[keys[(s, "lrlab")]].epochs for s in seeds)
    for method in [m for m in methods if m != "lrlab"]:
        pairs = [(outcomes[keys[(s, "lrlab")]].test, outcomes[keys[(s, method)]].test) for s in seeds]
        mean, error = paired(pairs, case.maximize)
        ratio = lrlab_epochs / statistics.fmean(outcomes[keys[(s, method)]].epochs for s in seeds)
        wins = sum((a > b) if case.maximize else (a < b) for a, b in pairs)
        print(
            f"  lrlab vs {method}: advantage {mean:+.4f} ± {error:.4f} (SE, {len(seeds)} seeds; "
            f"lrlab better in {wins}), epochs ×{ratio:.2f}"
        )
        if method == "optuna":
            ok = ratio <= 0.5 and mean >= -error
            print(f"    target (≤ 0.5× epochs, advantage ≥ −1 SE): {'held' if ok else 'NOT held'}")
            held &= ok
        if method == "topk":
            ok = mean > 0
            print(f"    target (ahead of the one-epoch baseline): {'held' if ok else 'NOT held'}")
            held &= ok
    return held


def _case_key(case: Case) -> str:
    return next(key for key, value in CASES.items() if value is case)


def _overrides(items: list[str]) -> tuple[tuple[str, Any], ...]:
    """``key=value`` pairs for ``TuneConfig`` (values read as JSON when they parse)."""
    pairs = []
    for item in items:
        key, _, text = item.partition("=")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        pairs.append((key, value))
    return tuple(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--cases", nargs="+", choices=tuple(CASES), default=list(CASES))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--lrlab", nargs="*", default=[], metavar="KEY=VALUE", help="TuneConfig overrides")
    parser.add_argument("--topk-budget", type=int, default=TOPK_TRIALS, help="in whole trials' epochs")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--fresh", action="store_true", help="ignore the cache")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # lrlab.tune's worker takes the CPUs otherwise: one each here
    if not (DATASETS / "mnist-test").exists() and "mnist" in args.cases:
        sys.exit(f"mnist-test files not found in {DATASETS}; this case needs them.")
    overrides = _overrides(args.lrlab)
    variant = ",".join(f"{k}={v}" for k, v in overrides) or "default"
    jobs = []
    for name in args.cases:
        epochs = CASES[name].epochs()
        for seed in args.seeds:
            for method in args.methods:
                label = variant if method == "lrlab" else f"x{args.topk_budget}" if method == "topk" else "-"
                budget = args.topk_budget * epochs
                jobs.append(Job(name, seed, method, label, overrides, budget))
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    outcomes = run_all(jobs, args.jobs, args.fresh)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.jobs} processes of 1 torch thread"
    versions = f"torch {torch.__version__}, optuna {optuna.__version__}, lrlab {lrlab.__version__}"
    print(f"tune efficiency: seeds {' '.join(map(str, args.seeds))}; lrlab variant: {variant}")
    print(f"machine: {platform.node()} ({machine}; {versions}, Python {platform.python_version()})")
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"wall time (cached results not rerun): {time.perf_counter() - began:.0f} s")
    held = [report(CASES[name], args.seeds, outcomes, jobs) for name in args.cases]
    return 0 if all(held) else 1


if __name__ == "__main__":
    raise SystemExit(main())
