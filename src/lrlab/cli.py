"""The ``lrlab`` command: thin argparse front ends over the lrlab API.

Each subcommand is a module of :mod:`lrlab.commands` with a one-line ``SUMMARY``, a
``DESCRIPTION``, ``EXAMPLES``, ``add_arguments(parser)`` and ``run(args) -> exit code``, and one
entry in :data:`COMMANDS` (its name and module). Start-up stays fast because a command imports
what it needs inside ``run``: ``lrlab --help`` and ``lrlab schedule`` never import torch, optuna
or matplotlib (rich only to print a table).

Exit codes: 0 success; 2 bad input (an :class:`~lrlab.errors.LrlabError` or an argparse usage
error), printed as one ``lrlab: error: …`` line; 1 a file system error; 130 interrupted.
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NamedTuple

from lrlab import __version__
from lrlab.commands import branches as branches_command
from lrlab.commands import compare as compare_command
from lrlab.commands import find_lr as find_lr_command
from lrlab.commands import report as report_command
from lrlab.commands import schedule as schedule_command
from lrlab.commands import train as train_command
from lrlab.commands import tune as tune_command
from lrlab.errors import LrlabError


class Command(NamedTuple):  # not a dataclass: importing dataclasses costs --help 15 ms
    """One subcommand, ``lrlab <name> …``; keep heavy imports inside ``run``."""

    name: str
    summary: str
    description: str
    examples: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lrlab`` with ``argv`` (default: the process arguments); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a launcher passes on
    try:
        code: int = args.run(args)
    except LrlabError as error:
        return _fail(args, error, 2)
    except BrokenPipeError:  # the reader went away (`lrlab schedule … | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        return _fail(args, error, 1)
    except KeyboardInterrupt:
        return 130
    return code


def _fail(args: argparse.Namespace, error: Exception, code: int) -> int:
    if args.debug:
        raise error
    message = " ".join(line.strip() for line in str(error).splitlines())
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process says it for all
        print(f"lrlab: error: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    """The ``lrlab`` parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="lrlab",
        description="The learning-rate lab for PyTorch: schedules, range tests, comparisons, tuning.",
        epilog=_MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lrlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.summary,
            description=command.description,
            epilog=command.examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        # SUPPRESS: `lrlab --debug schedule …` is not undone by the subcommand's default
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.set_defaults(run=command.run)
    return parser


_MAIN_EXAMPLES = """\
examples:
  lrlab schedule "warmup(steps=5, start=0.1) >> cosine(steps=95)" --steps 100
  lrlab schedule --list

Run 'lrlab COMMAND --help' for the options of a command.
"""


def _from_module(name: str, module: ModuleType) -> Command:
    """A command whose texts and functions live in a module of ``lrlab.commands``."""
    return Command(
        name, module.SUMMARY, module.DESCRIPTION, module.EXAMPLES, module.add_arguments, module.run
    )


COMMANDS: tuple[Command, ...] = (
    _from_module("schedule", schedule_command),
    _from_module("train", train_command),
    _from_module("find-lr", find_lr_command),
    _from_module("compare", compare_command),
    _from_module("tune", tune_command),
    _from_module("report", report_command),
    _from_module("branches", branches_command),
)
"""The subcommands of ``lrlab``: each module of ``lrlab.commands`` holds its texts, its argument
setup and its ``run``, and imports torch only inside ``run``."""
