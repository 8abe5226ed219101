"""``lrlab find-lr``: the range test on an experiment's task, with a recommendation to train with.

Takes the task options of ``lrlab train`` (a TOML file and/or flags). Writes
``<out>/<name>/find-<param>-<run>/`` (``out``: ``runs/find-lr``): ``steps.csv`` (one row per
step), ``summary.json`` (the suggestions, the recommendation, the command to train with) and
``range_test.png``. Running the same command again rewrites that folder.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrlab.commands.setting_flags import add_setting_flags, add_setting_groups, overrides, train_words
from lrlab.config.flags import FIND_LR, RUN
from lrlab.errors import LrlabError, invalid
from lrlab.namespaces import FIND_LR_OUT

if TYPE_CHECKING:
    from lrlab.config import Experiment
    from lrlab.distributed import World
    from lrlab.finder import Confirmation, RangeTestResult, Recommendation, Sweep, SweepConfig
    from lrlab.finder.experiment import Options

SUMMARY = "suggest a learning rate and schedule with a range test"
DESCRIPTION = (
    "Train briefly while the LR rises step by step (exponentially, 1e-5 to 10 for SGD, 1e-6 to 1\n"
    "for Adam-family optimizers, in 100 steps or enough for 12,800 samples), read the loss curve,\n"
    "and suggest an LR on its safe side (the lowest loss before any spike / 3, at most twice the\n"
    "steepest fall near it) with a confidence, and a command to train with (a one-cycle up to the\n"
    "peak the sweep saw still helping; warmup + cosine as the alternative). A low confidence leans\n"
    "lower and says so first. When the curve has no usable descent it says so and why, instead of\n"
    "guessing. The model and optimizer are restored after the sweep. --confirm K trains K short\n"
    "runs around the suggestion (x1/3, x1, x3; none above the lowest loss) and keeps the best by\n"
    "validation metric (a larger LR must win by more than one standard error). --param\n"
    "weight_decay or momentum sweeps that setting at the fixed --lr instead."
)
EXAMPLES = """\
examples:
  lrlab find-lr                                   # the quickstart: an MLP on sklearn digits
  lrlab find-lr --dataset mnist --model lenet --optimizer "sgd(momentum=0.9)" --plot lr.png
  lrlab find-lr experiment.toml --confirm 3 --format json
  lrlab find-lr --optimizer "adamw(weight_decay=0.01)" --start 1e-7 --end 1 --steps 200
  lrlab find-lr --param weight_decay --lr 0.05 --optimizer "sgd(momentum=0.9)"
  torchrun --nproc-per-node 4 -m lrlab find-lr --dataset mnist --model lenet --batch-size 64
"""
# the help of settings that mean something of their own here
_HELP = {
    "lr": "the fixed LR of --param weight_decay/momentum",
    "epochs": "the training the schedule is for",
    "steps": "the training the schedule is for, in updates",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab find-lr``."""
    add_setting_groups(parser, FIND_LR, title="task (as in lrlab train)", help=_HELP)
    sweep = parser.add_argument_group("range test")
    sweep.add_argument("--param", choices=("lr", "weight_decay", "momentum"), default="lr")
    sweep.add_argument("--start", type=float, metavar="X", help="first value (default: by optimizer)")
    sweep.add_argument("--end", type=float, metavar="X", help="last value (default: by optimizer)")
    sweep.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="updates (default: 100, more for batches under 128: 12,800 samples)",
    )
    sweep.add_argument(
        "--mode", choices=("exp", "linear"), help="spacing (default: exp; linear for momentum)"
    )
    sweep.add_argument("--repeats", type=int, default=1, metavar="R", help="sweeps with seeds seed…seed+R-1")
    sweep.add_argument(
        "--divergence",
        type=float,
        default=4.0,
        metavar="K",
        help="stop when the smoothed loss passes K × its best (4)",
    )
    sweep.add_argument("--accumulation", type=int, default=1, metavar="N", help="micro-batches per update")
    sweep.add_argument("--validation", action="store_true", help="record the validation loss (slow)")
    sweep.add_argument(
        "--confirm", type=int, default=0, metavar="K", help="K trainings at x1/3, x1, x3 … of the suggestion"
    )
    sweep.add_argument(
        "--confirm-epochs", type=int, metavar="N", help="epochs of each (default: min(epochs, 3))"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("table", "json"), default="table", help="stdout format")
    out.add_argument("--plot", metavar="FILE", help="also draw the curve to FILE (.png or .svg)")
    add_setting_flags(out, FIND_LR, RUN)
    out.add_argument(
        "--out", default=FIND_LR_OUT, metavar="DIR", help=f"parent of range tests (default: {FIND_LR_OUT})"
    )
    out.add_argument("--quiet", action="store_true", help="nothing on stderr")


def _experiment(args: argparse.Namespace) -> Experiment:
    from lrlab.config import Experiment, apply_overrides, load_experiment

    base = load_experiment(args.experiment) if args.experiment else Experiment()
    return apply_overrides(base, command=FIND_LR, **overrides(args, FIND_LR))


def _check(args: argparse.Namespace) -> None:
    for name in ("repeats", "accumulation"):
        if getattr(args, name) < 1:
            raise invalid(f"--{name}", "an integer >= 1", getattr(args, name))
    if args.confirm < 0:
        raise invalid("--confirm", "an integer >= 0 (0: no confirmation)", args.confirm)
    if args.confirm and args.param != "lr":
        raise LrlabError(
            "--confirm checks an LR suggestion: leave it out with --param weight_decay/momentum."
        )
    if args.confirm_epochs is not None and args.confirm_epochs < 1:
        raise invalid("--confirm-epochs", "an integer >= 1", args.confirm_epochs)
    if args.plot is not None:
        from lrlab.report.plots import check_figure_path

        check_figure_path(args.plot, param="--plot")


def run(args: argparse.Namespace) -> int:
    """``lrlab find-lr``: run the range test, write the run folder, print the recommendation.

    Under torchrun every process sweeps its share of each batch; rank 0 alone writes and prints.
    """
    from lrlab import distributed
    from lrlab.train.step import resolve_device

    _check(args)
    experiment = _experiment(args)
    world = distributed.start(resolve_device(experiment.train.device))
    try:
        return _range_test(args, experiment, world)
    finally:
        distributed.stop()


def _range_test(args: argparse.Namespace, experiment: Experiment, world: World) -> int:
    from lrlab.finder import recommend
    from lrlab.finder.experiment import (
        ladder,
        range_test_folder,
        recommendation_record,
        schedule_length,
        sweep_config,
    )
    from lrlab.train.setup import build_model_and_optimizer, load_task

    if not world.main:
        args.quiet = True
    options = _options(args)
    data = load_task(experiment)
    model, optimizer, _ = build_model_and_optimizer(experiment, data)
    config = sweep_config(experiment, options)
    sweep = ladder(optimizer, options, experiment.train.batch_size * world.size)  # the global batch
    _say(args, f"range test of {args.param}: {sweep.start:g} to {sweep.end:g} in {sweep.steps} steps")
    result = _range_test_with_progress(args, model, data, optimizer, sweep=sweep, config=config)
    confirmation = _confirm(args, experiment, data, result)
    recommendation = recommend(result, schedule_length(experiment, data, world), confirmation)
    if not world.main:
        return 0
    folder = range_test_folder(args.out, experiment, options, world.size)
    command = _command(args, recommendation, world.size)
    report = recommendation_record(
        result, recommendation, command=command, folder=folder, processes=world.size
    )
    _write(args, result, report, folder)
    if args.format == "json":
        json.dump(report, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _print_table(result, recommendation, report)
    return 0


def _options(args: argparse.Namespace) -> Options:
    """The range test's options: the flags of the same names."""
    from dataclasses import fields

    from lrlab.finder.experiment import Options

    return Options(**{field.name: getattr(args, field.name) for field in fields(Options)})


def _range_test_with_progress(
    args: argparse.Namespace, model: Any, data: Any, optimizer: Any, *, sweep: Sweep, config: SweepConfig
) -> RangeTestResult:
    """The range test with its steps shown on stderr: a bar on a terminal, about ten lines in a log."""
    from lrlab.finder import range_test
    from lrlab.train.logging import Progress

    total = args.repeats * sweep.steps
    with Progress(
        total, quiet=args.quiet, description="range test", history=False, every=max(1, total // 10)
    ) as bar:
        return range_test(
            model, data, optimizer, args.param, sweep=sweep, config=config, repeats=args.repeats,
            progress=lambda done, _total: bar.update(done),
        )  # fmt: skip


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"lrlab: {message}", file=sys.stderr)


def _confirm(
    args: argparse.Namespace, experiment: Experiment, data: Any, result: RangeTestResult
) -> Confirmation | None:
    if not args.confirm or result.suggested_lr is None:
        return None
    from lrlab.data import Data
    from lrlab.finder import confirm
    from lrlab.finder.experiment import confirm_config
    from lrlab.finder.recommend import confirm_lrs
    from lrlab.train.setup import build_model_and_optimizer

    if isinstance(data, Data) and data.x_val is None:
        raise LrlabError("--confirm scores trainings on a validation split: set --val-fraction > 0.")
    epochs = args.confirm_epochs or min(experiment.train.epochs, 3)
    lrs = ", ".join(f"{lr:.3g}" for lr in confirm_lrs(result.suggested_lr, args.confirm, result.lowest))
    _say(args, f"confirming with {args.confirm} trainings of {epochs} epochs (lr {lrs})")

    def build(lr: float) -> Any:
        return build_model_and_optimizer(experiment, data, lr)[:2]

    config = confirm_config(experiment, epochs)
    return confirm(build, data, result.suggested_lr, trainings=args.confirm, config=config, cap=result.lowest)


def _command(args: argparse.Namespace, recommendation: Recommendation, world_size: int) -> str | None:
    """The ``lrlab train`` command line of the recommendation (``None`` without an LR to train with)."""
    if recommendation.lr is None or args.param != "lr":
        return None
    words = ["lrlab", "train"] + ([args.experiment] if args.experiment else [])
    words += train_words(args, FIND_LR, skip={"lr"})
    if recommendation.one_cycle is not None and recommendation.range is not None:
        words += ["--lr", f"{recommendation.range[1]:.3g}", "--schedule", recommendation.one_cycle]
    else:
        words += ["--lr", f"{recommendation.lr:.3g}", "--schedule", recommendation.schedule or "constant()"]
    words += ["--nproc", str(world_size)] if world_size > 1 else []  # the global batch it was found for
    return shlex.join(words)


def _write(args: argparse.Namespace, result: RangeTestResult, report: dict[str, Any], folder: Path) -> None:
    from lrlab.finder import plot_range_test, write_range_test
    from lrlab.report.plots import save_figure

    write_range_test(result, folder, {"recommendation": report})
    figure = plot_range_test(result)
    save_figure(figure, folder / "range_test.png")
    if args.plot is not None:
        _say(args, f"wrote {save_figure(figure, args.plot)}")
    _say(args, f"wrote {folder}")


def _print_table(result: RangeTestResult, recommendation: Recommendation, report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from lrlab.finder.recommend import confirmation_text
    from lrlab.finder.suggest import LEAN, LOW_CONFIDENCE

    console = Console(file=sys.stdout, highlight=False)
    confidence = result.suggestion.confidence
    if result.param == "lr" and confidence is not None and confidence < LOW_CONFIDENCE:
        console.print(
            Text(f"low confidence ({confidence:.2f}): the curve is ambiguous, so the suggestion leans lower "
                 f"(÷{LEAN:g}); check it with --confirm 3 or more --repeats"),
            soft_wrap=True,
        )  # fmt: skip
    table = Table()
    for column in ("method", result.param, "how"):
        table.add_column(column, justify="right" if column == result.param else "left")
    for answer in result.suggestions:
        shown = "—" if answer.value is None else f"{answer.value:.3g}"
        table.add_row(answer.method, shown, answer.reason if answer.value is not None else "no suggestion")
    console.print(table)
    console.print(Text(f"stop reason: {result.stop_reason}"), soft_wrap=True)
    value = recommendation.lr if result.param == "lr" else result.suggestion.value
    if value is None:
        console.print(Text(result.suggestion.reason), soft_wrap=True)
        return
    shown = "" if confidence is None else f" (confidence {confidence:.2f})"
    if recommendation.confirmation is not None:
        console.print(Text(confirmation_text(recommendation.confirmation)), soft_wrap=True)
    console.print(Text(f"suggested {result.param}: {value:.3g}{shown}"), soft_wrap=True)
    if result.param == "lr" and recommendation.range is not None:
        base, high = recommendation.range
        alternative = f"or warmup + cosine with --lr {recommendation.lr:.3g}: {recommendation.schedule}"
        console.print(Text(f"range (base, max): {base:.3g}, {high:.3g}; {alternative}"), soft_wrap=True)
        console.print(Text(f"train with: {report['command']}"), soft_wrap=True)
