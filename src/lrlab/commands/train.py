"""``lrlab train``: one experiment (a TOML file and/or flags) → one run directory.

Flags override the file's keys (``--epochs`` sets ``train.epochs``, …). The run directory is
``<out>/<name>/<run name>`` (``out``: ``runs/train``), the run name a hash of the resolved
settings: run the same command with ``--resume`` to continue a run that was stopped.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

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
    add_setting_arguments(parser)
    run = parser.add_argument_group("run")
    run.add_argument("--name", metavar="NAME", help="experiment name (default: the file's stem)")
    run.add_argument(
        "--out", default=TRAIN_OUT, metavar="DIR", help=f"parent of run directories (default: {TRAIN_OUT})"
    )
    run.add_argument("--resume", action="store_true", help="continue the run this command started")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    parallel = parser.add_argument_group("data-parallel and devices")
    parallel.add_argument(
        "--nproc", type=int, metavar="N", help="train in N processes on this machine (launches torchrun)"
    )
    parallel.add_argument(
        "--lr-scaling",
        choices=("none", "linear", "sqrt"),
        help="scale the LR with the global batch (linear for SGD, sqrt for adaptive methods)",
    )
    parallel.add_argument(
        "--reference-batch-size", type=int, metavar="N", help="the batch size the LR was chosen for"
    )
    parallel.add_argument(
        "--scaling-warmup-epochs", type=float, metavar="E", help="warmup when the LR is scaled up (default 5)"
    )
    parallel.add_argument("--compile", action="store_true", default=None, help="train through torch.compile")


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment file and the flags that override its settings (shared with ``compare``)."""
    parser.add_argument("experiment", nargs="?", metavar="EXPERIMENT.toml", help="an experiment file")
    task = parser.add_argument_group("task")
    task.add_argument(
        "--dataset", "--data", metavar="SPEC", help="digits, mnist, idx(…), pkg.module:function"
    )
    task.add_argument("--model", metavar="SPEC", help="lenet, cifar-cnn, mlp(…), linear, pkg.module:function")
    task.add_argument("--val-fraction", type=float, metavar="F", help="share of train held out")
    task.add_argument("--data-dir", metavar="DIR", help="where downloaded datasets live")
    opt = parser.add_argument_group("optimization")
    opt.add_argument(
        "--optimizer", metavar="SPEC", help='e.g. "sgd(momentum=0.9)", "adamw(weight_decay=0.01)"'
    )
    opt.add_argument("--lr", type=float, metavar="LR", help="base learning rate")
    opt.add_argument("--schedule", metavar="SPEC", help="LR schedule spec (see lrlab schedule --list)")
    opt.add_argument(
        "--lr-multiplier",
        action="append",
        metavar="PREFIX=X",
        help="LR factor for parameters under a name prefix (repeatable), e.g. head=10",
    )
    opt.add_argument("--epochs", type=int, metavar="N")
    opt.add_argument("--steps", type=int, metavar="N", help="a budget in updates instead of epochs")
    opt.add_argument(
        "--interval",
        choices=("step", "epoch"),
        help="what the schedule's numbers count: updates (default) or epochs",
    )
    opt.add_argument("--batch-size", type=int, metavar="N")
    opt.add_argument("--seed", type=int, metavar="N")
    opt.add_argument("--device", metavar="DEV", help="auto (CUDA when present), cpu, cuda, cuda:N")
    opt.add_argument(
        "--early-stopping",
        nargs="?",
        const=True,
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement (default: the file's, else 5)",
    )
    opt.add_argument("--monitor", metavar="METRIC", help="val_loss (default), val_acc, val_mse, train_loss")
    tune = parser.add_argument_group("fine-tuning")
    tune.add_argument("--init-from", metavar="PATH", help="start from these weights (a .pt state dict)")
    tune.add_argument(
        "--freeze", action="append", metavar="PATTERN", help="freeze parameters by name (repeatable)"
    )


def _multipliers(items: list[str] | None) -> dict[str, float] | None:
    if items is None:
        return None
    multipliers: dict[str, float] = {}
    for item in items:
        prefix, _, text = item.partition("=")
        try:
            factor = float(text)
        except ValueError:
            factor = None
        if factor is None or not prefix.strip():
            raise LrlabError(f"--lr-multiplier takes PREFIX=FACTOR like head=10, got {item!r}.")
        multipliers[prefix.strip()] = factor
    return multipliers


def overrides(args: argparse.Namespace) -> dict[str, object]:
    """The values of the setting flags, by :data:`lrlab.config.OVERRIDES` key (``None``: not given)."""
    return dict(
        name=args.name,
        dataset=args.dataset,
        model=args.model,
        val_fraction=args.val_fraction,
        data_dir=args.data_dir,
        optimizer=args.optimizer,
        lr=args.lr,
        schedule=args.schedule,
        lr_multipliers=_multipliers(args.lr_multiplier),
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        interval=args.interval,
        early_stopping=args.early_stopping,
        monitor=args.monitor,
        init_from=args.init_from,
        freeze=args.freeze,
    )


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
    scaling = dict(
        lr_scaling=args.lr_scaling,
        reference_batch_size=args.reference_batch_size,
        scaling_warmup_epochs=args.scaling_warmup_epochs,
        compile=args.compile,
    )
    experiment = apply_overrides(base, **overrides(args), **scaling)
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
    console.print(Text(f"stop reason: {summary['stop_reason']}"), soft_wrap=True)
