"""Figures of a study, drawn with matplotlib from Optuna's trials (Agg canvas, never pyplot):
optimization history, parameter importances, parallel coordinates, every trial's learning
curve (pruned ones marked) and the best run's curves. Each takes ``ax=None`` and returns its
:class:`~matplotlib.figure.Figure`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from lrlab.report.plots import LABELS, MARKERS_UP_TO, PALETTE, informative_range, is_accuracy, is_loss

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE = (6.4, 4.4)
PRUNED = "#9a9a9a"


def new_axes(ax: Axes | None, size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new Agg figure (150 dpi) with one axes."""
    if ax is not None:
        figure = ax.get_figure(root=True)
        if figure is None:
            raise ValueError("ax must be placed on a figure")
        return figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def plot_history(
    trials: Sequence[FrozenTrial], *, maximize: bool, monitor: str, ax: Axes | None = None
) -> Figure:
    """Each trial's value against its number (pruned: its last reported value, in grey) and
    the best value so far."""
    figure, ax = new_axes(ax)
    numbers, values = _points(trials, TrialState.PRUNED)
    ax.scatter(numbers, values, marker="x", color=PRUNED, label="pruned")
    numbers, values = _points(trials, TrialState.COMPLETE)
    ax.scatter(numbers, values, color=PALETTE[0], s=18, label="complete")
    best: float | None = None
    xs, ys = [], []
    for number, value in sorted(zip(numbers, values, strict=True)):
        if math.isfinite(value) and (best is None or (value > best if maximize else value < best)):
            best = value
        if best is not None:
            xs.append(number)
            ys.append(best)
    ax.step(xs, ys, where="post", color=PALETTE[1], label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(LABELS.get(monitor, monitor))
    ax.set_title("optimization history")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def _points(trials: Sequence[FrozenTrial], state: TrialState) -> tuple[list[int], list[float]]:
    """Numbers and values of the trials in ``state`` that have a value."""
    chosen = [(t.number, float(t.value)) for t in trials if t.state == state and t.value is not None]
    return [number for number, _ in chosen], [value for _, value in chosen]


def plot_importances(
    importances: Mapping[str, float], ax: Axes | None = None, *, trials: int | None = None
) -> Figure:
    """Horizontal bars: each parameter's share of the value's variance (fANOVA), estimated
    from ``trials`` complete trials (said in the title when given)."""
    figure, ax = new_axes(ax)
    names = list(importances)[::-1]
    ax.barh(names, [importances[name] for name in names], color=PALETTE[0])
    ax.set_xlabel("importance (share of the variance of the value)")
    ax.set_title("parameter importances" + (f" from {trials} complete trials" if trials else ""))
    ax.grid(True, axis="x", alpha=0.3)
    return figure


def _axis_position(trial: FrozenTrial, name: str, distribution: Any) -> float:
    """Where a trial's value of ``name`` lies on its axis, from 0 to 1 (NaN when not drawn)."""
    if name not in trial.params:
        return math.nan
    value = trial.params[name]
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        return choices.index(value) / max(1, len(choices) - 1)
    if isinstance(distribution, FloatDistribution | IntDistribution):
        low, high, value = float(distribution.low), float(distribution.high), float(value)
        if distribution.log:
            low, high, value = math.log(low), math.log(high), math.log(value)
        return (value - low) / (high - low) if high > low else 0.5
    return math.nan


def plot_parallel(
    trials: Sequence[FrozenTrial], *, maximize: bool, monitor: str, ax: Axes | None = None
) -> Figure:
    """Parallel coordinates: one line per complete trial through its parameter values (each
    axis from its low to its high end, log axes on a log scale), coloured by its value."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    figure, ax = new_axes(ax, (9.0, 4.4))
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    done = [t for t in done if math.isfinite(float(t.value))]  # type: ignore[arg-type]
    distributions: dict[str, Any] = {}
    for trial in done:
        distributions.update(trial.distributions)
    names = list(distributions)
    if not done or not names:
        ax.text(0.5, 0.5, "no complete trial yet", ha="center", va="center", transform=ax.transAxes)
        return figure
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    norm = Normalize(min(values), max(values) if max(values) > min(values) else min(values) + 1)
    cmap = colormaps["viridis" if maximize else "viridis_r"]
    for trial, value in sorted(zip(done, values, strict=True), key=lambda p: p[1] if maximize else -p[1]):
        ys = [_axis_position(trial, name, distributions[name]) for name in names]
        ax.plot(range(len(names)), ys, color=cmap(norm(value)), alpha=0.8, linewidth=1.2)
    for index, name in enumerate(names):
        ax.axvline(index, color="#444", linewidth=0.8)
        low, high = _ends(distributions[name])
        ax.text(index, -0.04, low, ha="center", va="top", fontsize="x-small")
        ax.text(index, 1.04, high, ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize="small")
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_title("parallel coordinates of the complete trials")
    figure.colorbar(_mappable(cmap, norm), ax=ax, label=LABELS.get(monitor, monitor))
    return figure


def _mappable(cmap: Any, norm: Any) -> Any:
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)


def _ends(distribution: Any) -> tuple[str, str]:
    if isinstance(distribution, CategoricalDistribution):
        first, last = distribution.choices[0], distribution.choices[-1]
        return _cut(str(first)), _cut(str(last))
    return f"{distribution.low:.3g}", f"{distribution.high:.3g}"


def _cut(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_trial_curves(
    trials: Sequence[FrozenTrial], *, best: int | None, monitor: str, ax: Axes | None = None
) -> Figure:
    """Every trial's reported value per step (epoch; fold by fold with cross-validation):
    pruned trials in grey, the best trial thick."""
    figure, ax = new_axes(ax)
    for trial in trials:
        steps = sorted(trial.intermediate_values)
        if not steps:
            continue
        values = [trial.intermediate_values[s] for s in steps]
        if trial.state == TrialState.PRUNED:
            ax.plot(steps, values, color=PRUNED, linewidth=0.8, alpha=0.7)
        elif trial.number == best:
            ax.plot(steps, values, color=PALETTE[1], linewidth=2.2, label=f"best (trial {best})", zorder=3)
        else:
            ax.plot(steps, values, color=PALETTE[0], linewidth=0.8, alpha=0.6)
    ax.plot([], [], color=PRUNED, label="pruned")
    ax.plot([], [], color=PALETTE[0], label="complete")
    ax.set_xlabel("epoch (steps of reported values)")
    ax.set_ylabel(LABELS.get(monitor, monitor))
    ax.set_title("learning curves of all trials")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def plot_run(rows: Sequence[Sequence[Mapping[str, float]]], metric: str) -> Figure:
    """The best run's curves, one line per fold, in three panels over one shared epoch axis:
    the losses (log scale), the monitored metric (an accuracy zoomed to its informative range,
    a loss on a log scale) and the LR, drawn as steps (each epoch's LR held until the next
    epoch, so a step schedule shows as steps)."""
    figure, _ = new_axes(None, (6.4, 8.4))
    figure.clear()
    axes = figure.subplots(3, 1, sharex=True)
    panels = (("train_loss", "val_loss"), (metric,), ("lr",))
    for ax, keys in zip(axes, panels, strict=True):
        drawn: list[list[float]] = []
        for fold, history in enumerate(rows):
            for index, key in enumerate(keys):
                points = [
                    (row["epoch"], row[key]) for row in history if key in row and math.isfinite(row[key])
                ]
                if points:
                    label = LABELS.get(key, key) + (f" (fold {fold + 1})" if len(rows) > 1 else "")
                    xs, ys = zip(*points, strict=True)
                    drawn.append(list(ys))
                    ax.plot(
                        xs,
                        ys,
                        color=PALETTE[(fold * len(keys) + index) % len(PALETTE)],
                        label=label,
                        drawstyle="steps-pre" if key == "lr" else "default",
                        marker=None if key == "lr" or len(xs) > MARKERS_UP_TO else "o",
                        markersize=3,
                    )
        _scale(ax, keys[0], drawn)
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend(fontsize="small")
    axes[-1].set_xlabel("epoch")
    axes[0].set_title("losses")
    axes[1].set_title(LABELS.get(metric, metric))
    axes[2].set_title("learning rate (each epoch's, held over the epoch)")
    return figure


def _scale(ax: Axes, key: str, drawn: Sequence[Sequence[float]]) -> None:
    values = [v for ys in drawn for v in ys]
    if not values:
        return
    if (is_loss(key) or key == "lr") and min(values) > 0 and (key != "lr" or max(values) / min(values) > 100):
        ax.set_yscale("log")
    elif is_accuracy(key):
        limits = informative_range(drawn)
        if limits is not None and limits[1] > limits[0]:
            ax.set_ylim(*limits)
