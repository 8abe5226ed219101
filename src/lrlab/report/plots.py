"""Figures of schedules: matplotlib, headless, returned and never shown.

Every plot function takes ``ax=None`` and returns the :class:`~matplotlib.figure.Figure` it drew
on. New figures are plain ``matplotlib.figure.Figure`` objects on the Agg canvas, never pyplot
ones: nothing opens a window, pyplot's global state and backend stay as the caller left them,
and a figure is freed like any other object. matplotlib is imported on first use, so importing
this module (and the ``lrlab`` command) stays fast.
"""

from __future__ import annotations

import math
import os
import secrets
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lrlab.errors import LrlabError, invalid
from lrlab.report.curves import bands, lr_preview
from lrlab.report.records import RunRecord
from lrlab.schedules import Schedule, parse

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

FORMATS = {".png": "png", ".svg": "svg"}
BUCKETS = 2000  # long curves are drawn from at most 4 points per bucket (see _decimate)
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
COMPARISON_SIZE = (6.4, 4.4)  # inches; the legend goes below the axes
LINE_STYLES = ("-", "--", "-.", ":")
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
    xs, ys = _decimate(values, BUCKETS)
    if ax is None:
        figure = new_figure()
        ax = figure.add_subplot()
        ax.set_title(textwrap.fill(str(schedule), TITLE_WIDTH, break_on_hyphens=False))
        show_legend = label is not None
    else:
        figure = _figure_of(ax)
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

    The image is written to a temporary file in the same directory and moved into place with
    :func:`os.replace`, so ``path`` never holds a half-written image. Returns the path.
    """
    target = Path(path)
    image_format = check_figure_path(target)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as file:  # "x": never clobber; the mode follows the umask
            figure.savefig(file, format=image_format)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


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


def _figure_of(ax: Axes) -> Figure:
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


def _decimate(values: list[float], buckets: int) -> tuple[list[int], list[float]]:
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


# --- comparisons: one curve per variant, the mean over seeds with a band --------------------------


def variant_colors(variants: Iterable[str]) -> dict[str, str]:
    """A colour (hex) per distinct variant, in order of first appearance, from :data:`PALETTE`."""
    names = list(dict.fromkeys(variants))
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def plot_metric(
    records: Sequence[RunRecord],
    metric: str,
    *,
    ax: Axes | None = None,
    colors: Mapping[str, str] | None = None,
    spread: Literal["range", "std"] = "range",
    scale: Literal["auto", "linear", "log"] = "auto",
    epochs: float | None = None,
) -> Figure:
    """Draw ``metric`` (a metrics.csv column) against epoch: per variant the mean over seeds as
    a line and, shaded, the min–max over seeds (``spread="range"``) or mean ± std (``"std"``).

    Args:
        records: the runs (:func:`~lrlab.report.records.load_runs`).
        metric: e.g. ``"train_loss"``, ``"val_loss"``, ``"val_acc"``.
        ax: the axes to draw on; a new figure when ``None``.
        colors: variant → colour (default: :func:`variant_colors` of the records).
        spread: what the band shows.
        scale: the y axis; ``"auto"``: logarithmic for losses and errors (so the drops an LR cut
            makes show late in training), and for accuracies zoomed to the range the curves
            spend their time in after the first epochs (see :func:`informative_range`).
        epochs: the x axis runs from 0 to this (default: matplotlib's choice), so that every
            panel of a report, the LR's included, shares one epoch axis.
    """
    curves = bands(records, metric, spread)
    if not curves:
        raise invalid("metric", "a column of the runs' metrics.csv", metric)
    colors = colors or variant_colors(record.variant for record in records)
    own = ax is None
    figure, ax = _figure_and_ax(ax)
    for variant, band in curves.items():
        color, dashes = colors.get(variant, PALETTE[0]), _line_style(colors, variant)
        marker = "o" if len(band.epochs) <= MARKERS_UP_TO else None
        ax.plot(
            band.epochs,
            band.mean,
            color=color,
            linestyle=dashes,
            marker=marker,
            markersize=3,
            label=_label(variant),
        )
        ax.fill_between(band.epochs, band.low, band.high, color=color, alpha=0.2, linewidth=0)
    name = LABELS.get(metric, metric)
    ax.xaxis.set_major_locator(_integer_locator())
    shown = _apply_scale(ax, metric, list(curves.values()), scale)
    ax.set_title(f"{name}{shown} (mean over seeds, band: {'min–max' if spread == 'range' else '± std'})")
    if epochs is not None:
        ax.set_xlim(0, max(1.0, epochs))
    _finish(ax, name, own)
    return figure


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


def _apply_scale(ax: Axes, metric: str, curves: Sequence[Any], scale: str) -> str:
    """Set the y scale (see :func:`plot_metric`); returns words for the title."""
    values = [v for band in curves for v in (*band.low, *band.high, *band.mean)]
    if scale == "log" or (scale == "auto" and is_loss(metric)):
        if values and min(values) > 0:
            ax.set_yscale("log")
            return ", log scale"
        return ""
    if scale == "auto" and is_accuracy(metric):
        limits = informative_range([band.mean for band in curves])
        if limits is not None and limits[1] > limits[0]:
            ax.set_ylim(*limits)
            return ", zoomed"
    return ""


def plot_lr(
    records: Sequence[RunRecord],
    *,
    ax: Axes | None = None,
    colors: Mapping[str, str] | None = None,
    epochs: int | None = None,
) -> Figure:
    """Draw each variant's absolute LR (base LR × schedule, from its spec, see
    :func:`~lrlab.report.curves.lr_preview`) against epoch, over the first ``epochs`` epochs
    (default: all planned); seeds share a spec, so the variant's first run stands for all.
    Piecewise-constant LRs are drawn as steps; LRs spanning more than two decades on a log
    scale."""
    colors = colors or variant_colors(record.variant for record in records)
    own = ax is None
    figure, ax = _figure_and_ax(ax)
    first = {record.variant: record for record in reversed(records)}
    drawn: list[float] = []
    for variant in colors:
        if (record := first.get(variant)) is None:
            continue
        xs, ys = lr_preview(record, epochs)
        keep, values = _decimate(ys, BUCKETS)
        points = [(xs[i], v) for i, v in zip(keep, values, strict=True) if math.isfinite(v)]
        if not points:
            continue
        drawn += [v for _, v in points]
        ax.plot(
            [x for x, _ in points],
            [v for _, v in points],
            color=colors[variant],
            linestyle=_line_style(colors, variant),
            drawstyle="steps-post",  # each LR holds until the next point: drops show as steps
            label=_label(variant),
        )
    positive = [v for v in drawn if v > 0]
    log = bool(positive) and len(positive) == len(drawn) and max(positive) / min(positive) > 100
    if log:
        ax.set_yscale("log")
    ax.set_title("learning rate from each variant's schedule" + (", log scale" if log else ""))
    if epochs is not None:
        ax.set_xlim(0, max(1, epochs))
    _finish(ax, LABELS["lr"], own)
    return figure


def comparison_figures(records: Sequence[RunRecord]) -> dict[str, Figure]:
    """The report's figures by name: train_loss, val_loss, val_acc (when recorded) and lr, all
    over the same epochs (those the runs trained, else those they planned)."""
    colors = variant_colors(record.variant for record in records)
    present = {key for record in records for row in record.metrics for key in row}
    span = shared_epochs(records)
    figures: dict[str, Figure] = {
        metric: plot_metric(records, metric, colors=colors, epochs=span)
        for metric in ("train_loss", "val_loss", "val_acc")
        if metric in present
    }
    figures["lr"] = plot_lr(records, colors=colors, epochs=span)
    return figures


def shared_epochs(records: Sequence[RunRecord]) -> int:
    """The epochs every panel shows: the last epoch any run recorded, else the most planned."""
    trained = [int(row["epoch"]) for record in records for row in record.metrics]
    return max(trained) if trained and max(trained) > 0 else max(record.epochs for record in records)


def save_comparison_figures(figures: Mapping[str, Figure], folder: str | os.PathLike[str]) -> list[Path]:
    """Write each figure as ``<folder>/<name>.png`` and ``.svg`` (atomically); return the paths."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    return [
        save_figure(fig, target / f"{name}{suffix}") for name, fig in figures.items() for suffix in FORMATS
    ]


def _figure_and_ax(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return _figure_of(ax), ax
    figure = new_figure(COMPARISON_SIZE, dpi=150)  # crisp PNGs on high-density screens
    return figure, figure.add_subplot()


def _integer_locator() -> MaxNLocator:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _finish(ax: Axes, ylabel: str, own: bool) -> None:
    """Labels, grid, and the legend: below the axes on a figure of our own (long variant names
    never cover the curves), inside a caller's axes otherwise."""
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if not own:
        ax.legend(fontsize="small")
        return
    labels = [str(line.get_label()) for line in ax.get_lines()]
    longest = max(map(len, labels), default=0)
    widest = 4 if longest <= 14 else 3 if longest <= 20 else 2 if longest <= 40 else 1
    columns = max(1, min(len(labels), widest))
    _figure_of(ax).legend(loc="outside lower center", ncols=columns, frameon=False)


def _line_style(colors: Mapping[str, str], variant: str) -> str:
    """Solid, dashed, dash-dot, dotted by the variant's place: curves that coincide stay visible."""
    index = list(colors).index(variant) if variant in colors else 0
    return LINE_STYLES[index % len(LINE_STYLES)]


def _label(variant: str) -> str:
    """A legend entry that shows ``variant`` as written: no mathtext, no hidden ``_`` labels."""
    text = variant.replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text
