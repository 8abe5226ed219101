"""Figures of schedules, and what every figure of a report shares (the canvas, saving, colours,
labels and scales): matplotlib, headless, returned and never shown.

Every plot function takes ``ax=None`` and returns the :class:`~matplotlib.figure.Figure` it drew
on. New figures are plain ``matplotlib.figure.Figure`` objects on the Agg canvas, never pyplot
ones: nothing opens a window, pyplot's global state and backend stay as the caller left them,
and a figure is freed like any other object. matplotlib is imported on first use, so importing
this module (and the ``lrlab`` command) stays fast. The comparison's figures are in
:mod:`lrlab.report.comparison`.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lrlab.errors import LrlabError, invalid
from lrlab.record import write_figure
from lrlab.schedules import Schedule, parse

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}
BUCKETS = 2000  # long curves are drawn from at most 4 points per bucket (see decimate)
TITLE_WIDTH = 72
# matplotlib's tab10: variant i gets colour i (mod 10) in every figure and in the HTML table
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
LABELS = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "val_acc": "validation accuracy",
    "val_mse": "validation MSE",
    "lr": "learning rate",
}
MARKERS_UP_TO = 30  # epochs: shorter curves mark each epoch's point


def plot_schedule(
    schedule: Schedule | str,
    steps: int,
    *,
    lr: float | None = None,
    ax: Axes | None = None,
    label: str | None = None,
    log_y: bool = False,
) -> Figure:
    """Draw ``schedule`` over steps ``0 … steps - 1`` and return the figure.

    Args:
        schedule: a :class:`Schedule` or a spec string such as ``"cosine(steps=100)"``.
        steps: how many steps to draw (an integer >= 1).
        lr: the base LR; when given the y axis shows absolute LRs ``lr * schedule(step)``,
            otherwise the multipliers.
        ax: the axes to draw on (e.g. to overlay several schedules); a new figure when ``None``.
        label: the curve's legend entry (default: the canonical spec). A legend is shown when
            a label is given or ``ax`` is reused.
        log_y: a logarithmic y axis, for exponential or inverse-time decays.

    A new figure is titled with the canonical spec; a reused ``ax`` keeps its title.
    """
    schedule = parse(schedule)
    _check_steps_and_lr(steps, lr)
    values = schedule.values(steps)
    if lr is not None:
        values = [lr * value for value in values]
    xs, ys = decimate(values, BUCKETS)
    if ax is None:
        figure = new_figure()
        ax = figure.add_subplot()
        ax.set_title(textwrap.fill(str(schedule), TITLE_WIDTH, break_on_hyphens=False))
        show_legend = label is not None
    else:
        figure = figure_of(ax)
        show_legend = True
    ax.plot(xs, ys, label=label or str(schedule))
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate" if lr is not None else "multiplier of the base LR")
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if show_legend:
        ax.legend()
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path`` atomically; the format follows the suffix (.png or .svg).

    The image is drawn into a temporary file in the same directory and moved into place
    (:func:`lrlab.record.write_figure`), so ``path`` never holds a half-written image. Returns
    the path.
    """
    target = Path(path)
    return write_figure(target, figure, check_figure_path(target))


def check_figure_path(path: str | os.PathLike[str], param: str = "path") -> str:
    """The image format for ``path`` ("png" or "svg"), or :class:`LrlabError` naming the fix.

    ``param`` is the name the caller's user knows the path by (the CLI passes ``--plot``).
    """
    target = Path(path)
    image_format = FORMATS.get(target.suffix.lower())
    if image_format is None:
        stem = target.with_suffix("").name or "figure"
        suffix = f"suffix {target.suffix!r}" if target.suffix else "no suffix"
        raise LrlabError(
            f"{param} must end in .png or .svg, got {param}={str(path)!r} ({suffix}). "
            f"Write {stem}.png or {stem}.svg."
        )
    if not target.parent.is_dir():
        fix = f"Create the directory {str(target.parent)!r} first."
        raise invalid(param, "a file in an existing directory", str(path), fix)
    return image_format


def _check_steps_and_lr(steps: int, lr: float | None) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise invalid("steps", "an integer >= 1", steps)
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise invalid("lr", "a finite number > 0", lr)


def figure_of(ax: Axes) -> Figure:
    figure = ax.get_figure(root=True)
    if figure is None:
        raise invalid("ax", "axes placed on a figure (e.g. from figure.add_subplot())", ax)
    return figure


def new_figure(size: tuple[float, float] = (7.0, 4.0), dpi: float = 100.0) -> Figure:
    """A figure on the Agg canvas (no pyplot, no display), constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def decimate(values: list[float], buckets: int) -> tuple[list[int], list[float]]:
    """Steps and values to draw: all of them, or first/min/max/last of each bucket.

    Keeping those four points per bucket (the M4 rule) draws the same line as all the points
    at the figure's resolution, even for fast cycles, while an SVG of a million steps stays
    small.
    """
    count = len(values)
    if count <= 4 * buckets:
        return list(range(count)), values
    import numpy as np

    array = np.asarray(values)
    edges = np.linspace(0, count, buckets + 1).astype(np.int64)
    keep: set[int] = set()
    for low, high in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        chunk = array[low:high]
        keep.update((low, high - 1, low + int(chunk.argmin()), low + int(chunk.argmax())))
    steps = sorted(keep)
    return steps, [values[step] for step in steps]


def variant_colors(variants: Iterable[str]) -> dict[str, str]:
    """A colour (hex) per distinct variant, in order of first appearance, from :data:`PALETTE`."""
    names = list(dict.fromkeys(variants))
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def is_loss(metric: str) -> bool:
    """Whether ``metric`` is a loss or an error (drawn on a log scale by default)."""
    return any(word in metric for word in ("loss", "mse", "mae", "error", "ppl", "perplexity"))


def is_accuracy(metric: str) -> bool:
    """Whether ``metric`` is an accuracy-like score in [0, 1] (zoomed by default)."""
    return metric.endswith(("acc", "accuracy", "_f1", "auc"))


def informative_range(series: Sequence[Sequence[float]], skip: float = 0.2) -> tuple[float, float] | None:
    """Y limits for accuracy curves: from a little below the lowest value after the first
    ``skip`` share of each curve (the first epochs climb from chance and would squash the rest)
    to a little above the highest value, clipped to [0, 1]; ``None`` when there is nothing to
    zoom on. Values above the curves' start are never cut off."""
    kept = [
        value
        for values in series
        for value in values[min(len(values) - 1, int(len(values) * skip)) :]
        if math.isfinite(value)
    ]
    if not kept:
        return None
    low, high = min(kept), max(kept)
    pad = max((high - low) * 0.08, 0.005)
    return max(0.0, low - pad), min(1.0, high + pad) if high <= 1.0 else high + pad
