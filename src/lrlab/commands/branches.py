"""``lrlab branches``: WSD results at many training lengths from one stable run (see
:mod:`lrlab.branches`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lrlab.errors import LrlabError

if TYPE_CHECKING:
    from lrlab.config import Experiment

SUMMARY = "WSD decay branches: many training lengths from one stable run"
DESCRIPTION = (
    "Train the stable phase of a warmup-stable-decay schedule once, save the whole state at the\n"
    "branch point of each length (length - cooldown x length), and run each length's cooldown from\n"
    "there: the final validation loss at every length for the compute of the longest one and the\n"
    "cooldowns. Each branch is bit for bit a straight WSD run of its length. With --cosine (the\n"
    "default) separate warmup + cosine runs of the same lengths train beside it for comparison.\n"
    "Writes <out>/<name>/: stable/, wsd/L<n>/, cosine/L<n>/, summary.csv and branches.png; run the\n"
    "same command again to continue after a stop."
)
EXAMPLES = """\
examples:
  lrlab branches shakespeare.toml --lengths 400,800,1200,1600,2000 --cooldown 0.2 --shape 1-sqrt
  lrlab branches experiment.toml --lengths 1000,2000 --warmup 100 --no-cosine --jobs 2
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab branches``."""
    parser.add_argument("experiment", metavar="EXPERIMENT.toml", help="the task, model and optimizer")
    group = parser.add_argument_group("branches")
    group.add_argument("--lengths", required=True, metavar="N,N,…", help="training lengths in updates")
    group.add_argument("--cooldown", type=float, default=0.2, metavar="C", help="share of each length (0.2)")
    group.add_argument("--shape", default="1-sqrt", help="cooldown shape: linear, cosine, 1-sqrt (default)")
    group.add_argument("--end", type=float, default=0.0, metavar="X", help="LR multiplier at the end (0)")
    group.add_argument("--warmup", type=int, metavar="N", help="warmup updates (default: the file's warmup)")
    group.add_argument("--no-cosine", action="store_true", help="no separate cosine runs")
    group.add_argument("--jobs", type=int, default=1, metavar="N", help="processes (default: 1)")
    group.add_argument("--out", default="runs", metavar="DIR", help="parent folder (default: runs)")


def _lengths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise LrlabError(
            f"--lengths must be integers separated by commas, like 400,800, got {text!r}."
        ) from None


def _warmup(experiment: Experiment) -> int:
    """The updates of the experiment schedule's leading warmup (0 without one)."""
    from lrlab.schedules import Join, Warmup, parse

    schedule = parse(experiment.schedule)
    first = schedule.parts[0] if isinstance(schedule, Join) else schedule
    return int(first.steps) if isinstance(first, Warmup) else 0


def run(args: argparse.Namespace) -> int:
    """``lrlab branches``: plan, train, print the table."""
    from lrlab.branches import FIGURE, SUMMARY_CSV, Plan, branches
    from lrlab.config import load_experiment
    from lrlab.distributed import World
    from lrlab.train.feed import steps_per_epoch
    from lrlab.train.setup import load_task

    experiment = load_experiment(args.experiment)
    if experiment.variant:
        raise LrlabError(f"{args.experiment} has [[variant]] tables; lrlab branches studies one setting.")
    task = load_task(experiment)
    per_epoch = steps_per_epoch(task, experiment.train.batch_size, World())
    warmup = _warmup(experiment) if args.warmup is None else args.warmup
    plan = Plan(_lengths(args.lengths), warmup, args.cooldown, args.shape, args.end, per_epoch)
    print(
        f"lrlab: {len(plan.lengths)} lengths from one stable run of {plan.point(plan.lengths[-1])} updates: "
        f"{plan.branched_steps} updates in all, {plan.separate_steps} to train each length alone "
        f"({plan.separate_steps / plan.branched_steps:.2f}x)",
        file=sys.stderr,
    )
    rows = branches(experiment, plan, out=args.out, cosine_runs=not args.no_cosine, jobs=args.jobs)
    print(
        f"{'length':>8} {'branch at':>10} {'WSD val_loss':>13}"
        + ("" if args.no_cosine else f" {'cosine':>9}")
    )
    for row in rows:
        cosine = "" if args.no_cosine else f" {row['cosine_val_loss']:>9.4f}"
        print(f"{row['length']:>8} {row['branch_point']:>10} {row['wsd_val_loss']:>13.4f}{cosine}")
    folder = f"{args.out}/{experiment.name}"
    print(f"summary: {folder}/{SUMMARY_CSV}\nfigure: {folder}/{FIGURE}")
    return 0
