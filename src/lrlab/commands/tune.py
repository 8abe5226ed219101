"""``lrlab tune``: search the learning rate, schedule and optimizer settings of an experiment
with Optuna, then write and print the best configuration.

The experiment is a TOML file with a ``[search]`` table, or a preset (``--preset NAME``; with
neither, the ``quickstart`` study on digits). Setting flags (``--epochs``, ``--dataset``, …)
change the experiment before the search. Running the same command again continues the study.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

from lrlab.commands.setting_flags import add_setting_flags, add_setting_groups, overrides
from lrlab.config.flags import RUN, TUNE
from lrlab.errors import LrlabError
from lrlab.namespaces import TUNE_OUT
from lrlab.tune.defaults import DEFAULT_TRIALS

if TYPE_CHECKING:
    from lrlab.config import Experiment
    from lrlab.tune.export import TuneResult
    from lrlab.tune.study import TuneConfig

SUMMARY = "tune the LR, schedule and optimizer settings (Optuna)"
DESCRIPTION = (
    "Search an experiment's [search] space (or the built-in space of its optimizer) with Optuna:\n"
    "each trial trains with the same loop as lrlab train, reports its validation metric every\n"
    "epoch and may be pruned (ASHA by default). Writes <out>/<study>/ (<out>: runs/tune):\n"
    "experiment.toml, study.db (SQLite, unless --storage URL), trials/<n>/ (run directories),\n"
    "trials.csv, best.toml (which lrlab train accepts; also printed), report.html and, with\n"
    "--final, the best configuration\n"
    "retrained on train + validation and evaluated once on the test split. --trials counts the\n"
    "finished trials of the whole study, --budget-epochs its training epochs: the same command\n"
    "continues a stopped study."
)
EXAMPLES = """\
examples:
  lrlab tune                                      # quickstart: SGD on digits, about a minute
  lrlab tune experiment.toml --trials 50 --workers 2 --final
  lrlab tune experiment.toml --cv 5 --sampler random --pruner median
  lrlab tune experiment.toml --lr-scaling linear --reference-batch-size 256
  lrlab tune experiment.toml --storage postgresql://user@db-host/lrlab --study fashion-sgd
      # … the same command on every machine: they share the study

[search] grammar (see docs/tuning.md):
  lr = "loguniform(1e-4, 1)"      momentum = "uniform(0.5, 0.99)"   warmup = "int(0, 5)"
  beta2 = "1 - loguniform(1e-4, 0.1)"   optimizer = "choice('sgd', 'rmsprop', 'adamw')"
  schedule = "choice('constant', 'cosine', warmup(steps=2, start=0.1) >> cosine(steps=18))"
  space = "sgd" | "rmsprop" | "adam" | "adamw" | "optimizers"     # built-in spaces
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab tune``."""
    add_setting_groups(parser, TUNE)
    group = parser.add_argument_group("study")
    group.add_argument("--preset", metavar="NAME", help="a built-in study (default: quickstart)")
    group.add_argument(
        "--trials",
        type=int,
        metavar="N",
        help=f"finished trials (default: {DEFAULT_TRIALS} unless --budget-epochs is given)",
    )
    group.add_argument(
        "--budget-epochs",
        type=int,
        metavar="N",
        help="stop after N training epochs in all, pruned and failed trials included; a trial "
        "starts only when it can finish within them",
    )
    group.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    group.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per CPU)"
    )
    group.add_argument("--storage", metavar="URL", help="SQLAlchemy URL (default: SQLite in the study dir)")
    group.add_argument("--study", metavar="NAME", help="study name (default: the experiment's name)")
    group.add_argument(
        "--sampler", default="tpe", metavar="NAME", help="tpe (default), random, grid, cmaes, gp"
    )
    group.add_argument(
        "--pruner", default="asha", metavar="NAME", help="asha (default), hyperband, median, none"
    )
    group.add_argument(
        "--cv", type=int, default=0, metavar="K", help="K-fold cross-validation (default: off)"
    )
    group.add_argument("--lr-scaling", choices=("linear", "sqrt"), help="scale the LR with the batch size")
    group.add_argument("--reference-batch-size", type=int, metavar="N", help="the LR's batch size")
    group.add_argument("--heartbeat", type=int, default=10, metavar="S", help="seconds between heartbeats")
    group.add_argument(
        "--final",
        action="store_true",
        help="retrain the best on train + validation (the next best if it collapses), test once",
    )
    add_setting_flags(group, TUNE, RUN)
    group.add_argument(
        "--out", default=TUNE_OUT, metavar="DIR", help=f"parent of the study (default: {TUNE_OUT})"
    )
    group.add_argument(
        "--force",
        action="store_true",
        help="replace another experiment's experiment.toml in the study folder",
    )
    group.add_argument("--quiet", action="store_true", help="no line per trial")
    group.add_argument("--no-report", action="store_true", help="skip the HTML report")


def build_experiment(args: argparse.Namespace) -> Experiment:
    """The file or preset, with the setting flags applied."""
    from lrlab.config import apply_overrides, load_experiment, variants_as_search
    from lrlab.tune.presets import DEFAULT_TUNE_PRESET, load_tune_preset

    if args.experiment and args.preset:
        raise LrlabError("give an experiment file or --preset NAME, not both.")
    if args.experiment:
        base = load_experiment(args.experiment)
    else:
        base = load_tune_preset(args.preset or DEFAULT_TUNE_PRESET)
    try:
        searched = variants_as_search(base)  # a comparison of schedules: tune chooses among them
    except LrlabError as error:
        raise LrlabError(f"{args.experiment}: {error}") from None
    return apply_overrides(searched, command=TUNE, **overrides(args, TUNE))


def build_config(args: argparse.Namespace) -> TuneConfig:
    """The study settings from the flags (checked)."""
    from lrlab.parallel import available_cpus
    from lrlab.tune.study import TuneConfig

    return TuneConfig(
        trials=args.trials,
        budget_epochs=args.budget_epochs,
        timeout=args.timeout,
        workers=available_cpus() if args.workers is None else args.workers,  # default: one per CPU
        storage=args.storage,
        study=args.study,
        sampler=args.sampler,
        pruner=args.pruner,
        cv=args.cv,
        lr_scaling=args.lr_scaling,
        reference_batch_size=args.reference_batch_size,
        heartbeat=args.heartbeat,
        final=args.final,
        out=args.out,
        report=not args.no_report,
        force=args.force,
    )


def run(args: argparse.Namespace) -> int:
    """``lrlab tune``: check everything, run the study, print the best configuration."""
    from lrlab.tune.run import tune
    from lrlab.tune.study import check, limits, study_folder, worker_count
    from lrlab.tune.workers import log_trials

    config = build_config(args)
    experiment = build_experiment(args)
    space = check(experiment, config)  # every mistake before the first line of output
    name, folder, _ = study_folder(experiment, config)
    workers, lowered = worker_count(experiment, config)
    log_trials(not args.quiet)
    if lowered is not None and args.workers is not None:  # said even when quiet: it does less than asked
        print(f"lrlab: note: {lowered}", file=sys.stderr)
    if not args.quiet:
        print(
            f"lrlab: study {name!r} in {folder}: {limits(space, config).describe()}, {workers} worker(s)",
            file=sys.stderr,
        )
    try:
        result = tune(experiment, config)
    except KeyboardInterrupt:
        print(f"lrlab: interrupted; run the same command to continue the study ({folder})", file=sys.stderr)
        raise
    # the lowered worker count was said on stderr before the study began
    print_result(dataclasses.replace(result, notes=[note for note in result.notes if note != lowered]))
    return 0 if result.best is not None else 1


def print_result(result: TuneResult) -> None:
    """The counts, the best trial, best.toml's text, the final test metrics and the paths."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 200)
    counts = ", ".join(f"{count} {state}" for state, count in sorted(result.counts.items()))
    budget = f" of {result.budget_epochs}" if result.budget_epochs is not None else ""
    spent = f"{result.epochs_spent}{budget} training epochs spent"
    console.print(Text(f"study {result.study_name!r} ({result.storage}): {counts}; {spent}"), soft_wrap=True)
    for note in result.notes:
        console.print(Text(f"note: {note}"), soft_wrap=True)
    best = result.best
    if best is None or result.best_toml is None:
        console.print(Text("no trial completed: nothing to export."), soft_wrap=True)
        return
    spread = best.user_attrs.get("cv_std")
    value = f"{best.value:.4g}" + (f" ± {spread:.2g}" if spread is not None else "")
    console.print(Text(f"best trial {best.number}: {result.monitor} {value}"), soft_wrap=True)
    console.print(Text(result.best_toml.read_text(encoding="utf-8").rstrip()), soft_wrap=True)
    if result.final is not None:
        test = ", ".join(f"{key} {v:.4g}" for key, v in result.final["test"].items())
        console.print(Text(f"final retrain ({result.final['run_dir']}): {test}"), soft_wrap=True)
    console.print(Text(f"best.toml: {result.best_toml}"), soft_wrap=True)
    if result.report is not None:
        console.print(Text(f"report: {result.report}"), soft_wrap=True)
