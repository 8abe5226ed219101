"""``lrlab report DIR``: rebuild a comparison's summary.csv, figures and report.html from its
run directories alone, and print the page's path."""

from __future__ import annotations

import argparse

SUMMARY = "rebuild the HTML report of a comparison"
DESCRIPTION = (
    "Read DIR (a folder 'lrlab compare' wrote: experiment.toml and runs/<variant>/seed<k>/) and\n"
    "rewrite DIR/summary.csv, DIR/figures/ (PNG and SVG) and DIR/report.html, a single page that\n"
    "opens offline in any browser. Prints the path of report.html."
)
EXAMPLES = """\
examples:
  lrlab report runs/fashion-schedules
  xdg-open "$(lrlab report runs/fashion-schedules)"
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lrlab report``."""
    parser.add_argument("directory", metavar="DIR", help="the comparison directory")


def run(args: argparse.Namespace) -> int:
    """``lrlab report``: build the report and print its path."""
    from lrlab.report.html import build_report

    print(build_report(args.directory))
    return 0
