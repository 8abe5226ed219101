"""Reports: data first (records, tables), pictures second (figures), then one HTML page.

:func:`load_runs` reads a comparison's run directories, :func:`aggregate` makes one row per
variant, :func:`write_summary_csv` writes them, :func:`build_report` writes summary.csv,
figures/ and report.html. Plot functions take ``ax=None``, return a
:class:`matplotlib.figure.Figure` and never show it; matplotlib is imported only when a figure
is drawn.
"""

from __future__ import annotations

from lrlab.report.comparison import plot_lr, plot_metric
from lrlab.report.html import build_report
from lrlab.report.plots import check_figure_path, plot_schedule, save_figure, variant_colors
from lrlab.report.records import Stat, VariantRow, aggregate, write_summary_csv
from lrlab.report.runs import RunRecord, load_runs

__all__ = [
    "RunRecord",
    "Stat",
    "VariantRow",
    "aggregate",
    "build_report",
    "check_figure_path",
    "load_runs",
    "plot_lr",
    "plot_metric",
    "plot_schedule",
    "save_figure",
    "variant_colors",
    "write_summary_csv",
]
