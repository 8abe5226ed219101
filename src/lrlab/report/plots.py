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
from pathlib import Path
from typing import TYPE_CHECKING

from lrlab.errors import LrlabError, invalid
from lrlab.schedules import Schedule, parse

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}
BUCKETS = 2000  # long curves are drawn from at most 4 points per bucket (see _decimate)
TITLE_WIDTH = 72


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
        figure = _new_figure()
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


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.0), layout="constrained")
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
