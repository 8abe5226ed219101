"""``lrlab compare``: an experiment's variants × seeds → runs in parallel → a summary table.

The experiment is a TOML file with ``[[variant]]`` tables, or a preset (``--preset NAME``; with
neither, the ``quickstart`` preset). Setting flags (``--epochs``, ``--dataset``, …) apply to every
run, over the file's and the variants' own values. Finished runs are skipped, so the same
command continues a comparison that was stopped.
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lrlab.commands.setting_flags import add_setting_flags, add_setting_groups, overrides
from lrlab.config.flags import COMPARE, RUN
from lrlab.errors import LrlabError, invalid

if TYPE_CHECKING:
    from lrlab.compare import ComparisonResult, Plan, RunReport, RunSpec
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
    add_setting_groups(parser, COMPARE)
    group = parser.add_argument_group("comparison")
    group.add_argument("--preset", metavar="NAME", help="a built-in comparison (default: quickstart)")
    add_setting_flags(group, COMPARE, RUN, help={"name": "comparison name (default: the file's stem)"})
    group.add_argument(
        "--jobs", type=int, default=0, metavar="N", help="worker processes (default: 0, one per CPU)"
    )
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
    return apply_overrides(base, command=COMPARE, **overrides(args, COMPARE))


def run(args: argparse.Namespace) -> int:
    """``lrlab compare``: check everything, train the pending runs, print the table."""
    from lrlab.commands.notices import show_as_lines
    from lrlab.compare import compare

    show_as_lines()  # schedule-length warnings as one line each
    if args.jobs < 0:
        raise invalid("--jobs", "an integer >= 0 (0: one per CPU)", args.jobs)
    experiment = build_experiment(args)
    progress = _RunLines(quiet=args.quiet)
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
        progress.close()
        where = Path(args.out) / experiment.name
        print(f"lrlab: interrupted; run the same command to continue ({where})", file=sys.stderr)
        raise
    finally:
        progress.close()
    print_table(result)
    return 0


class _RunLines:
    """What a comparison shows on stderr (its :class:`~lrlab.compare.RunWatcher`): what will be
    trained, then, while runs train, their epochs as metrics.csv grows (a line each in a log; a
    live status line on a terminal), and one line per finished run."""

    POLL_S = 0.5

    def __init__(self, *, quiet: bool, stream: TextIO | None = None, terminal: bool | None = None) -> None:
        self.quiet, self.count, self.total = quiet, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: Any = None
        self._seen: dict[Path, int] = {}
        self._watched: dict[Path, tuple[Path, str, int | None]] = {}  # run folder → its metrics

    def _say(self, line: str) -> None:
        if not self.quiet:
            self._write(f"lrlab: {line}")

    def _write(self, line: str) -> None:
        with self._lock:
            if self._status is not None:
                self._status.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def start(self, plan: Plan) -> None:
        if plan.lowered is not None:  # said even when quiet: the command does less than asked
            self._write(f"lrlab: note: {plan.lowered.replace('jobs=', '--jobs ', 1)}")
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
        if self.quiet or not plan.pending:
            return
        self._watched = {
            spec.folder: (
                plan.directory / spec.folder / "metrics.csv",
                _run_name(spec),
                _planned_epochs(spec),
            )
            for spec in plan.pending
        }
        if self.terminal:
            from rich.console import Console
            from rich.status import Status

            console = Console(file=self.stream, force_terminal=True, highlight=False)
            self._status = Status(f"training {len(plan.pending)} runs", console=console)
            self._status.start()
        self._thread = threading.Thread(target=self._watch, name="lrlab-compare-progress", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL_S):
            self.poll()

    def poll(self) -> None:
        """Report each watched run whose metrics.csv gained an epoch since the last look."""
        running = []
        for path, name, planned in list(self._watched.values()):
            row, epochs = _last_row(path)
            if row is None or epochs <= self._seen.get(path, 0):
                if row is not None and path in self._seen:
                    running.append(_epoch_line(name, row, planned))
                continue
            self._seen[path] = epochs
            line = _epoch_line(name, row, planned)
            running.append(line)
            if self._status is None:
                self._write(f"lrlab:   {line}")
        if self._status is not None and running:
            with self._lock:
                self._status.update(f"[{self.count}/{self.total} done] " + " | ".join(running[-3:]))

    def finished(self, run: RunReport) -> None:
        from lrlab.record.summary import recorded_stop

        self.count += 1
        final = run.summary.get("final", {})
        metrics = [f"{key} {final[key]:.4f}" for key in ("val_acc", "val_loss") if key in final]
        when = "trained before" if run.skipped else f"{run.seconds:.1f} s"
        words = " · ".join([*metrics, recorded_stop(run.summary)["kind"], when])
        count = f"{self.count:>{len(str(self.total))}}/{self.total}"
        self._say(f"[{count}] {run.spec.variant} seed{run.spec.index}: {words}")
        self._watched.pop(run.spec.folder, None)

    def close(self) -> None:
        """Stop watching and clear the status line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None


def _run_name(spec: RunSpec) -> str:
    return f"{spec.variant} seed{spec.index}"


def _planned_epochs(spec: RunSpec) -> int | None:
    epochs = getattr(getattr(spec.experiment, "train", None), "epochs", None)
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def _last_row(path: Path) -> tuple[dict[str, str] | None, int]:
    """The last complete row of a metrics.csv being written, and the rows so far (0: none yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, 0
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    if len(lines) < 2:
        return None, 0
    header, last = next(csv.reader([lines[0]])), next(csv.reader([lines[-1]]))
    return dict(zip(header, last, strict=False)), len(lines) - 1


def _epoch_line(name: str, row: Mapping[str, str], planned: int | None) -> str:
    epoch = row.get("epoch", "?")
    parts = [f"{name}: epoch {epoch}" + (f"/{planned}" if planned else "")]
    for key in ("train_loss", "val_loss", "val_acc"):
        try:
            parts.append(f"{key} {float(row[key]):.4g}")
        except (KeyError, ValueError):
            continue
    return " · ".join(parts)


# the metric columns of the table, each shown when some variant has it
_COLUMNS = ("final_val_acc", "best_val_acc", "final_val_loss", "best_val_loss", "test_acc", "test_loss")


def _cell(row: VariantRow, name: str, digits: int = 3) -> str:
    stat = row.stats.get(name)
    if stat is None:
        return "—"
    return f"{stat.mean:.{digits}f}" + ("" if stat.std is None else f"±{stat.std:.{digits}f}")


def print_table(result: ComparisonResult) -> None:
    """Per variant: mean ± std over seeds of the final metrics, the metrics at the best epoch
    (by the monitored metric, the epoch best.pt holds, headed as such), the test metrics, the
    best epoch, the stop and the time per run."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from lrlab.report.records import stat_heading

    runs = sorted({len(row.seeds) for row in result.rows})
    seeds = "/".join(map(str, runs))
    table = Table(title=f"{result.directory.name}: mean ± std over {seeds} seed{'s' * (runs != [1])}")
    monitors = sorted({row.monitor for row in result.rows})
    names = [name for name in _COLUMNS if any(name in row.stats for row in result.rows)]
    headers = [stat_heading(name, monitors) for name in names]
    for header in ("variant", *headers, stat_heading("best_epoch", monitors), "stop", "s / run"):
        table.add_column(header, justify="left" if header in ("variant", "stop") else "right", no_wrap=True)
    for row in result.rows:
        table.add_row(
            row.variant,
            *(_cell(row, name) for name in names),
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
