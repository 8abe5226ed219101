"""Reports: data first (records, tables), pictures second (figures).

Plot functions take ``ax=None``, return a :class:`matplotlib.figure.Figure` and never show it;
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from lrlab.report.plots import check_figure_path, plot_schedule, save_figure

__all__ = ["check_figure_path", "plot_schedule", "save_figure"]
