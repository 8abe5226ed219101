"""The comparison's figures: per variant, the mean over seeds of a metric with a band, and the
LR each variant's schedule gives, all against epoch (see :mod:`lrlab.report.plots` for what
every figure shares)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lrlab.errors import invalid
from lrlab.report.curves import bands, lr_preview
from lrlab.report.plots import (
    BUCKETS,
    FORMATS,
    LABELS,
    MARKERS_UP_TO,
    PALETTE,
    decimate,
    figure_of,
    informative_range,
    is_accuracy,
    is_loss,
    new_figure,
    save_figure,
    variant_colors,
)
from lrlab.report.runs import RunRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

COMPARISON_SIZE = (6.4, 4.4)  # inches; the legend goes below the axes
LINE_STYLES = ("-", "--", "-.", ":")


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
        keep, values = decimate(ys, BUCKETS)
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
        return figure_of(ax), ax
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
    figure_of(ax).legend(loc="outside lower center", ncols=columns, frameon=False)


def _line_style(colors: Mapping[str, str], variant: str) -> str:
    """Solid, dashed, dash-dot, dotted by the variant's place: curves that coincide stay visible."""
    index = list(colors).index(variant) if variant in colors else 0
    return LINE_STYLES[index % len(LINE_STYLES)]


def _label(variant: str) -> str:
    """A legend entry that shows ``variant`` as written: no mathtext, no hidden ``_`` labels."""
    text = variant.replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text
