"""``lrlab compare``: an experiment's variants × seeds → runs in parallel → a summary table.

The experiment is a TOML file with ``[[variant]]`` tables, or a preset (``--preset NAME``; with
neither, the ``quickstart`` preset). Setting flags (``--epochs``, ``--dataset``, …) apply to every
run, over the file's and the variants' own values. Finished runs are skipped, so the same
command continues a comparison that was stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lrlab.commands.train import add_setting_arguments, overrides
from lrlab.errors import LrlabError, invalid

if TYPE_CHECKING:
    from lrlab.compare import ComparisonResult, Plan, RunReport
    from lrlab.config import Experiment
    from lrlab.report.records import VariantRow

SUMMARY = "compare variants of an experiment over seeds, in parallel"
DESCRIPTION = (
    "Train every variant of an experiment (TOML with [[variant]] tables, or --preset NAME; the\n"
    "quickstart preset when neither is given) with --seeds seeds each, in --jobs worker processes,\n"
    "and print per variant the mean ± std over seeds of the final and best validation metrics, the\n"
    "best epoch, the stop reason and the time per run. Writes <out>/<name>/: experiment.toml,\n"
    "runs/<variant>/seed<k>/ (run directories) and summary.csv. Finished runs are never trained\n"
    "again: run the same command to continue a stopped comparison."
)
EXAMPLES = """\
examples:
  lrlab compare                                   # quickstart: 4 LR strategies on digits, < 2 min
  lrlab compare --preset fashion-schedules --jobs 2
  lrlab compare --preset fashion-schedules --dataset 'idx(images="img.gz", labels="lbl.gz", test_size=2000)'
  lrlab compare experiment.toml --seeds 3 --jobs 0 --out results
  lrlab compare --preset optimizers --epochs 5 --quiet

presets: quickstart, fashion-schedules, cifar-rmsprop, optimizers, warmup-cosine-es
(their TOML files are in examples/ and in lrlab/presets/)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab compare``."""
    add_setting_arguments(parser)
    group = parser.add_argument_group("comparison")
    group.add_argument("--preset", metavar="NAME", help="a built-in comparison (default: quickstart)")
    group.add_argument(
        "--seeds", type=int, metavar="N", help="runs per variant (default: the file's, else 1)"
    )
    group.add_argument(
        "--jobs", type=int, default=0, metavar="N", help="worker processes (default: 0, one per CPU)"
    )
    group.add_argument("--name", metavar="NAME", help="comparison name (default: the file's stem)")
    group.add_argument(
        "--out", default="runs", metavar="DIR", help="parent of the comparison (default: runs)"
    )
    group.add_argument("--quiet", action="store_true", help="no progress lines, only the table")
    group.add_argument("--no-report", action="store_true", help="skip the HTML report")
    group.add_argument(
        "--force",
        action="store_true",
        help="retrain run folders that hold other settings, replace experiment.toml",
    )


def build_experiment(args: argparse.Namespace) -> Experiment:
    """The file or preset with the flags applied."""
    from lrlab.config import apply_overrides, load_experiment
    from lrlab.presets import DEFAULT_PRESET, load_preset

    if args.experiment and args.preset:
        raise LrlabError("give an experiment file or --preset NAME, not both.")
    base = load_experiment(args.experiment) if args.experiment else load_preset(args.preset or DEFAULT_PRESET)
    return apply_overrides(base, seeds=args.seeds, **overrides(args))


def run(args: argparse.Namespace) -> int:
    """``lrlab compare``: check everything, train the pending runs, print the table."""
    from lrlab.commands.notices import show_as_lines
    from lrlab.compare import compare

    show_as_lines()  # schedule-length warnings as one line each
    if args.jobs < 0:
        raise invalid("--jobs", "an integer >= 0 (0: one per CPU)", args.jobs)
    experiment = build_experiment(args)
    progress = _Progress(quiet=args.quiet)
    try:
        result = compare(
            experiment,
            out=args.out,
            jobs=args.jobs,
            progress=progress,
            report=not args.no_report,
            force=args.force,
        )
    except KeyboardInterrupt:
        where = Path(args.out) / experiment.name
        print(f"lrlab: interrupted; run the same command to continue ({where})", file=sys.stderr)
        raise
    print_table(result)
    return 0


class _Progress:
    """Prints what will be trained, then one line per finished run, to stderr."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet, self.count, self.total = quiet, 0, 0

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(f"lrlab: {line}", file=sys.stderr)

    def start(self, plan: Plan) -> None:
        if plan.lowered is not None:  # said even when quiet: the command does less than asked
            print(f"lrlab: note: {plan.lowered.replace('jobs=', '--jobs ', 1)}", file=sys.stderr)
        variants = len(dict.fromkeys(spec.variant for spec in plan.specs))
        self.total = len(plan.specs)
        seeds = self.total // variants
        workers = (
            f"{plan.workers} worker process{'es' * (plan.workers > 1)}" if plan.workers > 1 else "1 process"
        )
        done = f"{len(plan.done)} reused (finished before), " if plan.done else ""
        if plan.stale:  # trained again: made by other plug-ins, data files, lrlab or settings
            done += f"{len(plan.stale)} stale, retrained ({next(iter(plan.stale.values()))}), "
        self._say(
            f"comparing {variants} variant{'s' * (variants > 1)} × {seeds} seed{'s' * (seeds > 1)} "
            f"in {plan.directory}: {self.total} runs, {done}{len(plan.pending)} to train in {workers}"
        )

    def finished(self, run: RunReport) -> None:
        self.count += 1
        final = run.summary.get("final", {})
        metrics = [f"{key} {final[key]:.4f}" for key in ("val_acc", "val_loss") if key in final]
        when = "trained before" if run.skipped else f"{run.seconds:.1f} s"
        words = " · ".join([*metrics, str(run.summary.get("status", "?")), when])
        count = f"{self.count:>{len(str(self.total))}}/{self.total}"
        self._say(f"[{count}] {run.spec.variant} seed{run.spec.index}: {words}")


def _cell(row: VariantRow, name: str, digits: int = 3) -> str:
    stat = row.stats.get(name)
    if stat is None:
        return "—"
    return f"{stat.mean:.{digits}f}" + ("" if stat.std is None else f"±{stat.std:.{digits}f}")


def print_table(result: ComparisonResult) -> None:
    """Per variant: mean ± std over seeds of the final and best metrics, best epoch, stop, time."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    runs = sorted({len(row.seeds) for row in result.rows})
    seeds = "/".join(map(str, runs))
    table = Table(title=f"{result.directory.name}: mean ± std over {seeds} seed{'s' * (runs != [1])}")
    headers = ("variant", "final val_acc", "best val_acc", "final val_loss", "best val_loss", "best epoch")
    for header in (*headers, "stop", "s / run"):
        table.add_column(header, justify="left" if header in ("variant", "stop") else "right", no_wrap=True)
    for row in result.rows:
        table.add_row(
            row.variant,
            *(
                _cell(row, name)
                for name in ("final_val_acc", "best_val_acc", "final_val_loss", "best_val_loss")
            ),
            _cell(row, "best_epoch", 1),
            row.status(),
            _cell(row, "seconds", 1),
        )
    # a file or pipe gets the whole table; a terminal gets its own width
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    console.print(Text(f"summary: {result.directory / 'summary.csv'}"), soft_wrap=True)
    if result.report is not None:
        console.print(Text(f"report: {result.report}"), soft_wrap=True)
