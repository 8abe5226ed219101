"""The range test's result (:class:`RangeTestResult`, frozen) and its files: ``steps.csv``, one row
per step, and ``summary.json``, the summary core of :mod:`lrlab.record.summary` plus the
suggestions (:func:`write_range_test`)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab.errors import invalid
from lrlab.finder.curve import Curve
from lrlab.finder.descent import Descent, find_descent
from lrlab.finder.hyperparameter import Hyperparameter
from lrlab.finder.suggest import Suggestion, peak_step, settled_bottom
from lrlab.record import write_json, write_text
from lrlab.record.files import SUMMARY_JSON
from lrlab.record.summary import SummaryCore
from lrlab.train.stop import Stop

STEPS_CSV = "steps.csv"


@dataclass(frozen=True)
class RangeTestResult:
    """A range test: the values tried, the raw and smoothed losses, the suggestions, and how it
    stopped (``stop``: ``finished`` or ``diverged``, and why). ``values`` are LRs for an LR test
    (also as :attr:`lrs`). ``smoothed`` is the debiased EMA the divergence stop used; ``trend``
    the centred smoothing the suggestions read (both ``nan`` after a non-finite loss).
    ``suggestion`` is the default; ``suggestions`` every single method's answer. ``repeats``
    counts the sweeps behind the default's confidence.
    """

    param: Hyperparameter
    values: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    trend: tuple[float, ...]
    stop: Stop
    suggestion: Suggestion
    suggestions: tuple[Suggestion, ...]
    momentum: float
    repeats: int
    seconds: float

    @property
    def lrs(self) -> tuple[float, ...]:
        """The LRs tried (for an LR test)."""
        return self.values

    @property
    def stop_reason(self) -> str:
        """Why the sweep stopped, in words."""
        return self.stop.detail

    @property
    def suggested_lr(self) -> float | None:
        """The default suggestion's value, or ``None`` (see ``suggestion.reason``)."""
        return self.suggestion.value

    @property
    def lowest(self) -> float | None:
        """The value where the trend is lowest before any loss spike
        (:func:`~lrlab.finder.suggest.settled_bottom`): above it the sweep showed training break
        down (``None`` when no loss was finite)."""
        return self._value_at(lambda _curve, descent: settled_bottom(descent))

    @property
    def peak(self) -> float | None:
        """The highest value the sweep showed still helping: :attr:`lowest` moved back for the
        loss's lag (:func:`~lrlab.finder.suggest.peak_step`); the top of a recommended cycle."""
        return self._value_at(peak_step)

    def _value_at(self, step: Callable[[Curve, Descent], int]) -> float | None:
        """The value at ``step(curve, descent)``; without a descent, where the trend is lowest."""
        curve = Curve.of(self.values, self.losses, self.momentum)
        descent = find_descent(curve)
        if not isinstance(descent, str):
            return self.values[step(curve, descent)]
        finite = [(t, v) for t, v in zip(self.trend, self.values, strict=True) if math.isfinite(t)]
        return min(finite)[1] if finite else None

    def method(self, name: str) -> Suggestion:
        """The suggestion of the method ``name``."""
        for answer in self.suggestions:
            if answer.method == name:
                return answer
        raise invalid("name", f"one of {', '.join(a.method for a in self.suggestions)}", name)

    def rows(self) -> list[dict[str, float]]:
        """One row per step: ``step``, the value (``lr`` …), ``loss``, ``smoothed``, ``trend``."""
        return [
            {"step": float(i), self.param: v, "loss": loss, "smoothed": s, "trend": t}
            for i, (v, loss, s, t) in enumerate(
                zip(self.values, self.losses, self.smoothed, self.trend, strict=True)
            )
        ]

    def summary(self) -> dict[str, Any]:
        """The result without the per-step arrays, as JSON-ready data: ``summary.json``'s core
        (:mod:`lrlab.record.summary`: ``best`` the step where the trend is lowest, ``final`` the
        last one, their non-finite values left out; no epochs, no test), then the suggestions."""
        rows = [{key: v for key, v in row.items() if math.isfinite(v)} for row in self.rows()]
        lowest = min(
            (i for i, t in enumerate(self.trend) if math.isfinite(t)),
            key=self.trend.__getitem__,
            default=None,
        )
        core = SummaryCore(
            stop=self.stop,
            epochs=None,
            steps=len(self.values),
            best={} if lowest is None else rows[lowest],
            final=rows[-1] if rows else {},
            wall_time_s=self.seconds,
            train_time_s=self.seconds,
        )
        return core.to_dict() | {
            "param": self.param,
            "suggested": _suggestion_data(self.suggestion),
            "methods": {a.method: _suggestion_data(a) for a in self.suggestions},
            "range": [self.values[0], self.values[-1]] if self.values else [],
            "momentum": self.momentum,
            "repeats": self.repeats,
        }


def _suggestion_data(answer: Suggestion) -> dict[str, Any]:
    return {
        "value": answer.value,
        "step": answer.index,
        "confidence": answer.confidence,
        "reason": answer.reason,
    }


def write_range_test(
    result: RangeTestResult, folder: str | Path, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``steps.csv`` (one row per step) and ``summary.json`` (``result.summary()`` plus
    ``extra``, strict JSON) into ``folder``, each atomically; return the folder."""
    target = Path(folder)
    buffer = io.StringIO()
    columns = ["step", result.param, "loss", "smoothed", "trend"]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in result.rows():
        writer.writerow({key: int(v) if key == "step" else repr(v) for key, v in row.items()})
    write_text(target / STEPS_CSV, buffer.getvalue())
    write_json(target / SUMMARY_JSON, result.summary() | dict(extra or {}), allow_nan=False)
    return target
