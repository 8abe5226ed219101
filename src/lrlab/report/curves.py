"""Records → the series a figure draws: per-epoch means and spreads over seeds, and the LR each
variant's schedule gives (pure data, no plotting)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal, NamedTuple

from lrlab.errors import LrlabError
from lrlab.report.records import Stat
from lrlab.report.runs import RunRecord, group_by_variant

MAX_POINTS = 100_000  # steps of an LR preview evaluated one by one; more are sampled


class Band(NamedTuple):
    """A variant's curve of one metric: per epoch, the mean over seeds and a spread."""

    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]


def bands(
    records: Iterable[RunRecord], metric: str, spread: Literal["range", "std"] = "range"
) -> dict[str, Band]:
    """Per variant, the mean of ``metric`` over the seeds at each epoch and its spread: the
    minimum and maximum over seeds (``"range"``) or mean ± sample std (``"std"``). An epoch that
    only some seeds reached (early stopping) is averaged over those; nan and inf values are left
    out. Variants without the metric are left out."""
    curves: dict[str, Band] = {}
    for variant, runs in group_by_variant(records).items():
        by_epoch: dict[int, list[float]] = {}
        for record in runs:
            for epoch, value in record.column(metric):
                if math.isfinite(value):  # nan/inf cells (a diverged or hand-edited run) are not drawn
                    by_epoch.setdefault(epoch, []).append(value)
        if not by_epoch:
            continue
        epochs = sorted(by_epoch)
        stats = [Stat.of(by_epoch[epoch]) for epoch in epochs]
        mean = [stat.mean for stat in stats]
        if spread == "std":
            spreads = [stat.std or 0.0 for stat in stats]  # one seed: no spread
            low = [stat.mean - d for stat, d in zip(stats, spreads, strict=True)]
            high = [stat.mean + d for stat, d in zip(stats, spreads, strict=True)]
        else:
            low, high = [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs]
        curves[variant] = Band(epochs, mean, low, high)
    return curves


def lr_preview(record: RunRecord, epochs: int | None = None) -> tuple[list[float], list[float]]:
    """The absolute LR the run's spec gives (base LR × schedule) over its first ``epochs``
    epochs (default: all it planned), with x in epochs: one point per optimizer step
    (``x = step / steps_per_epoch``) when the interval is "step", one per epoch when it is
    "epoch"; each value holds until the next point, the last one until ``x = epochs``. More
    than :data:`MAX_POINTS` steps are sampled at that many evenly spaced steps (a schedule is a
    closed form, so any step costs the same), so a huge run cannot stall a report. Plateau and
    divergence cuts are not part of the spec, so they are not shown."""
    from lrlab.schedules import parse

    schedule = parse(record.schedule)
    span = record.epochs if epochs is None else max(1, min(epochs, record.epochs))
    if record.interval == "epoch":
        steps, per_epoch = span, 1
    elif record.steps_per_epoch is None:
        raise LrlabError(f"{record.path}: no steps per epoch recorded, so its LR cannot be previewed.")
    else:
        steps, per_epoch = span * record.steps_per_epoch, record.steps_per_epoch
    if steps <= MAX_POINTS:
        at = list(range(steps))
        values = schedule.values(steps)
    else:
        at = sorted({round(i * (steps - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
        values = [schedule(step) for step in at]
    xs = [step / per_epoch for step in at] + [float(span)]
    return xs, [record.lr * v for v in [*values, values[-1]]]
