"""``lrlab schedule``: print (and optionally plot) a schedule's values as a table, CSV or JSON.

Imports neither torch nor matplotlib unless asked to plot (rich only to print a table).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from lrlab.errors import LrlabError, invalid

if TYPE_CHECKING:
    from lrlab.schedules import Schedule

MAX_STEPS = 10_000_000
TABLE_ROWS = 30  # the automatic stride keeps a table about this long
CHUNK = 65_536  # rows per write of CSV output

SUMMARY = "print or plot a learning-rate schedule"
DESCRIPTION = (
    "Print the multipliers (or, with --lr, the absolute LRs) of a schedule spec for\n"
    "steps 0 … N-1, as a table, CSV or JSON, and optionally draw the curve."
)
EXAMPLES = """\
examples:
  lrlab schedule "cosine(steps=100, end=0.01)" --steps 100
  lrlab schedule "warmup(steps=5, start=0.1) >> cosine(steps=95)" --steps 100 --lr 0.3
  lrlab schedule "multistep(milestones=[30, 60], gamma=0.1)" --steps 90 --format csv > lr.csv
  lrlab schedule "one_cycle(steps=1000)" --steps 1000 --every 100 --plot one_cycle.png
  lrlab schedule --list
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab schedule``."""
    parser.add_argument(
        "spec", nargs="?", metavar="SPEC", help="a schedule spec; parts joined by >> run one after another"
    )
    parser.add_argument("--steps", type=int, metavar="N", help="print steps 0 … N-1")
    parser.add_argument("--lr", type=float, metavar="BASE", help="base LR: print absolute LRs")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)"
    )
    parser.add_argument("--every", type=int, metavar="K", help="table: show every K-th step")
    parser.add_argument("--plot", metavar="FILE", help="also draw the curve to FILE (.png or .svg)")
    parser.add_argument("--log-y", action="store_true", help="with --plot: a logarithmic y axis")
    parser.add_argument("--list", action="store_true", help="list the schedule families and exit")


def run(args: argparse.Namespace) -> int:
    """``lrlab schedule``: print (and optionally plot) a schedule's values."""
    from lrlab.schedules import parse

    if args.list:
        if args.spec is not None or args.steps is not None:
            raise LrlabError("--list takes no SPEC or --steps: run 'lrlab schedule --list' alone.")
        _print_families()
        return 0
    _check_schedule_options(args)
    schedule = parse(args.spec)
    if args.plot is not None:
        from lrlab.report.plots import check_figure_path, plot_schedule, save_figure

        check_figure_path(args.plot, param="--plot")
        figure = plot_schedule(schedule, args.steps, lr=args.lr, log_y=args.log_y)
        print(f"lrlab: wrote {save_figure(figure, args.plot)}", file=sys.stderr)
    if args.format == "table":
        _print_table(schedule, args.steps, args.lr, args.every)
        return 0
    values = schedule.values(args.steps)
    if args.lr is not None:
        values = [args.lr * value for value in values]
    if args.format == "csv":
        _write_csv(values, args.lr is not None)
    else:
        _write_json(str(schedule), values, args.lr)
    return 0


def _check_schedule_options(args: argparse.Namespace) -> None:
    if args.spec is None:
        raise LrlabError("a SPEC is needed, e.g. lrlab schedule 'cosine(steps=100)' --steps 100.")
    if args.steps is None:
        raise LrlabError("--steps N is needed: how many steps to print, e.g. --steps 100.")
    if not 1 <= args.steps <= MAX_STEPS:
        raise invalid("--steps", f"an integer from 1 to {MAX_STEPS:_}", args.steps)
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise invalid("--lr", "a finite number > 0", args.lr)
    if args.every is not None:
        if args.format != "table":
            raise LrlabError(f"--every shortens tables only; --format {args.format} prints every step.")
        if args.every < 1:
            raise invalid("--every", "an integer >= 1", args.every)
    if args.log_y and args.plot is None:
        raise LrlabError("--log-y sets the plot's y axis: add --plot FILE.png.")


def _print_families() -> None:
    from lrlab.schedules import FAMILIES, signature

    lines = ["Schedule families and combinators (join parts with >>):", ""]
    for family in FAMILIES.values():
        summary = (family.__doc__ or "").strip().splitlines()[0].replace("``", "")
        lines += [signature(family), f"    {summary}"]
    lines += ["", "Example: warmup(steps=5, start=0.1) >> cosine(steps=95, end=0.01)"]
    sys.stdout.write("\n".join(lines) + "\n")


def _write_csv(values: list[float], absolute: bool) -> None:
    write = sys.stdout.write
    write("step,lr\n" if absolute else "step,multiplier\n")
    for start in range(0, len(values), CHUNK):
        rows = enumerate(values[start : start + CHUNK], start)
        write("".join(f"{step},{value!r}\n" for step, value in rows))


def _write_json(spec: str, values: list[float], lr: float | None) -> None:
    import json

    json.dump({"spec": spec, "steps": len(values), "lr": lr, "values": values}, sys.stdout)
    sys.stdout.write("\n")


def table_steps(steps: int, every: int | None) -> tuple[list[int], int]:
    """The steps a table shows and its stride: every ``every``-th (or a round automatic stride),
    always with the first and the last step."""
    stride = every or _auto_stride(steps)
    shown = list(range(0, steps, stride))
    if shown[-1] != steps - 1:
        shown.append(steps - 1)
    return shown, stride


def _auto_stride(steps: int) -> int:
    if steps <= 2 * TABLE_ROWS:
        return 1
    target = (steps - 1) / TABLE_ROWS
    magnitude = int(10 ** math.floor(math.log10(target)))
    return next(nice * magnitude for nice in (1, 2, 5, 10) if nice * magnitude >= target)


def _print_table(schedule: Schedule, steps: int, lr: float | None, every: int | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    shown, stride = table_steps(steps, every)
    table = Table()
    for column in ("step", "multiplier", "lr")[: 3 if lr is not None else 2]:
        table.add_column(column, justify="right")
    for step in shown:
        multiplier = schedule(step)
        cells = [str(step), f"{multiplier:.6g}"] + ([f"{lr * multiplier:.6g}"] if lr is not None else [])
        table.add_row(*cells)
    console = Console(file=sys.stdout, highlight=False)
    console.print(Text(f"spec: {schedule}"), soft_wrap=True)
    console.print(table)
    if stride > 1:
        note = f"every {stride} steps of {steps} and the last shown; --every K or --format csv for more"
        console.print(Text(note, style="dim"), soft_wrap=True)
