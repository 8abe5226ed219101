"""``lrlab train``: one experiment (a TOML file and/or flags) → one run directory.

Flags override the file's keys (``--epochs`` sets ``train.epochs``, …). The run directory is
``<out>/<name>/<run name>`` (``out``: ``runs/train``), the run name a hash of the resolved
settings: run the same command with ``--resume`` to continue a run that was stopped.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lrlab.commands.setting_flags import add_setting_flags, add_setting_groups, overrides
from lrlab.config.flags import PARALLEL, RUN, TRAIN
from lrlab.errors import LrlabError
from lrlab.namespaces import TRAIN_OUT

if TYPE_CHECKING:
    from pathlib import Path

    from lrlab.distributed import World
    from lrlab.train.run import RunResult

SUMMARY = "train a model on a task and record the run"
DESCRIPTION = (
    "Train a model with an optimizer and an LR schedule, from an experiment file (TOML) and/or\n"
    "flags (flags win). Writes <out>/<name>/<run>/ (<out>: runs/train): config.json,\n"
    "metrics.csv (one row per epoch, flushed at once), checkpoint.pt, best.pt and summary.json.\n"
    "The same command with --resume continues a stopped run exactly where its checkpoint left it."
)
EXAMPLES = """\
examples:
  lrlab train                                     # the quickstart: an MLP on sklearn digits
  lrlab train experiment.toml --epochs 20 --seed 1
  lrlab train --dataset mnist --model lenet --optimizer "sgd(momentum=0.9)" --lr 0.03 --epochs 3
  lrlab train --schedule "warmup(steps=100, start=0.1) >> cosine(steps=900)" --early-stopping 5
  lrlab train --init-from runs/default/RUN/best.pt --freeze "1.*" --lr-multiplier 5=10
  lrlab train --model mypkg.models:resnet --data mypkg.data:load --resume
  lrlab train --dataset mnist --model lenet --nproc 4 --lr-scaling linear   # 4 processes, DDP
  torchrun --nproc-per-node 4 -m lrlab train --dataset mnist --model lenet # the same, by hand
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab train``."""
    add_setting_groups(parser, TRAIN)
    run = parser.add_argument_group("run")
    add_setting_flags(run, TRAIN, RUN)
    run.add_argument(
        "--out", default=TRAIN_OUT, metavar="DIR", help=f"parent of run directories (default: {TRAIN_OUT})"
    )
    run.add_argument("--resume", action="store_true", help="continue the run this command started")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    parallel = parser.add_argument_group("data-parallel and devices")
    parallel.add_argument(
        "--nproc", type=int, metavar="N", help="train in N processes on this machine (launches torchrun)"
    )
    add_setting_flags(parallel, TRAIN, PARALLEL)


def run(args: argparse.Namespace) -> int:
    """``lrlab train``: build the experiment, train it, print the summary."""
    from lrlab import distributed
    from lrlab.commands.notices import show_as_lines
    from lrlab.config import Experiment, apply_overrides, load_experiment
    from lrlab.train.run import run_directory, train

    base = load_experiment(args.experiment) if args.experiment else Experiment()
    if base.variant:
        raise LrlabError(
            f"{args.experiment} has {len(base.variant)} [[variant]] tables and lrlab train trains one "
            f"setting; compare them with 'lrlab compare {args.experiment}'."
        )
    experiment = apply_overrides(base, command=TRAIN, **overrides(args, TRAIN))
    world = distributed.from_env()
    if args.nproc is not None:
        return _launch(args, world, run_directory(experiment, args.out, args.nproc))
    folder = run_directory(experiment, args.out, world.size)
    show_as_lines()
    if not args.quiet and world.main:
        doing = "resuming" if args.resume else "training"
        schedule = f"schedule {experiment.schedule} per {experiment.train.interval}"
        print(f"lrlab: {doing} {folder} ({schedule})", file=sys.stderr)
    try:
        result = train(experiment, out=args.out, resume=args.resume, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"lrlab: interrupted; continue with the same command and --resume ({folder})", file=sys.stderr)
        raise
    finally:
        distributed.stop()
    if world.main:
        print_summary(result)
    return 0


def _launch(args: argparse.Namespace, world: World, folder: Path) -> int:
    """``--nproc N``: the same command in N processes under torchrun."""
    from lrlab import distributed

    if world.parallel:
        raise LrlabError("--nproc launches torchrun; under torchrun already, leave --nproc out.")
    if args.nproc < 1:
        raise LrlabError(f"--nproc must be an integer >= 1, got {args.nproc}.")
    code = distributed.launch(args.nproc, distributed.without_option(args.argv, "--nproc"))
    if code != 0:
        raise LrlabError(
            f"the {args.nproc}-process run stopped (torchrun exit code {code}; see the processes' "
            f"messages above). Run the same command with --resume to continue {folder} from its last "
            "checkpoint."
        )
    return 0


def print_summary(result: RunResult) -> None:
    """A short table of the run's numbers, then the stop reason."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from lrlab.record.summary import recorded_stop

    summary = result.summary
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("epochs / steps", f"{summary['epochs']} / {summary['steps']}")
    metric, best = summary["monitor"]["metric"], summary["best"]
    if best:
        table.add_row(f"best {metric}", f"{best[metric]:.4g} (epoch {int(best['epoch'])})")
    for key in ("train_loss", "val_loss", "val_acc", "val_mse"):
        if key in summary["final"]:
            table.add_row(f"final {key}", f"{summary['final'][key]:.4g}")
    for key, value in summary["test"].items():
        table.add_row(key, f"{value:.4g}")
    table.add_row("test weights", summary["weights"])
    table.add_row("wall time", f"{summary['wall_time_s']:.1f} s")
    console = Console(file=sys.stdout, highlight=False)
    console.print(table)
    console.print(Text(f"run directory: {result.run_dir}"), soft_wrap=True)
    console.print(Text(f"stop reason: {recorded_stop(summary)['detail']}"), soft_wrap=True)
