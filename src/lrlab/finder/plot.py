"""The range test's picture: loss against the swept value on a log axis, the raw losses, the EMA
and the trend, a marker per suggestion method and the chosen one. Agg figures, never shown."""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from lrlab.errors import invalid
from lrlab.finder.outcome import RangeTestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LABELS = {"lr": "learning rate", "weight_decay": "weight decay", "momentum": "momentum"}
MARKERS = {"edge": "o", "steepest": "v", "valley": "s", "minimum": "D"}


def plot_range_test(result: RangeTestResult, ax: Axes | None = None, *, title: bool = True) -> Figure:
    """Draw ``result`` on ``ax`` (a new figure when ``None``) and return the figure.

    The y axis stops a little above the highest trend before the lowest loss, so a blow-up at
    the end does not flatten the curve; the raw losses beyond it are clipped, not dropped.
    """
    figure, ax = _axes(ax)
    values = np.asarray(result.values, dtype=np.float64)
    ax.plot(values, result.losses, color="0.75", linewidth=0.8, label="loss (per step)")
    ax.plot(values, result.smoothed, color="tab:gray", linestyle="--", linewidth=1, label="EMA (stop rule)")
    ax.plot(values, result.trend, color="tab:blue", linewidth=1.8, label="trend (suggestions)")
    for answer in result.suggestions:
        if answer.value is not None:
            label = f"{answer.method} {answer.value:.3g}"
            marker = MARKERS.get(answer.method, "o")
            y = _trend_at(result, answer.value)
            ax.plot([answer.value], [y], linestyle="none", marker=marker, markersize=6, label=label)
    chosen = result.suggestion.value
    if chosen is not None:
        ax.axvline(chosen, color="tab:red", linewidth=1.2, label=f"suggested {chosen:.3g}")
    if result.param != "momentum":
        ax.set_xscale("log")
    ax.set_ylim(*_y_limits(result))
    ax.set_xlabel(LABELS[result.param])
    ax.set_ylabel("training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(textwrap.fill(_title(result), 72))
    return figure


def _title(result: RangeTestResult) -> str:
    answer = result.suggestion
    if answer.value is None:
        return answer.reason
    confidence = "" if answer.confidence is None else f" (confidence {answer.confidence:.2f})"
    return f"range test of {LABELS[result.param]}: suggested {answer.value:.3g}{confidence}"


def _trend_at(result: RangeTestResult, value: float) -> float:
    pairs = [(v, t) for v, t in zip(result.values, result.trend, strict=True) if math.isfinite(t)]
    if not pairs:
        return math.nan
    xs = np.log([v for v, _ in pairs]) if result.param != "momentum" else np.asarray([v for v, _ in pairs])
    x = math.log(value) if result.param != "momentum" else value
    return float(np.interp(x, xs, [t for _, t in pairs]))


def _y_limits(result: RangeTestResult) -> tuple[float, float]:
    trend = np.asarray(result.trend, dtype=np.float64)
    finite = trend[np.isfinite(trend)]
    losses = np.asarray(result.losses, dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    if len(finite) == 0 or len(losses) == 0:
        return 0.0, 1.0
    lowest = int(np.argmin(finite))
    top = float(np.max(finite[: lowest + 1]))
    low = float(min(np.min(losses), np.min(finite)))
    pad = 0.15 * max(top - low, abs(top) * 0.05, 1e-12)
    return low - pad, top + pad


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.get_figure(root=True)
        if figure is None:
            raise invalid("ax", "axes placed on a figure (e.g. from figure.add_subplot())", ax)
        return figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()
