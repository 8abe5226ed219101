"""``summary.json``: how a run ended, in one shape for every producer.

A training run (``lrlab train``, a comparison's run), a tune trial, the final retrain and a
range test (``lrlab find-lr``) all start their summary with the same core keys
(:data:`CORE_KEYS`, :class:`SummaryCore`):

============  ==========================================================================
``stop``      why it ended: ``{"kind": …, "detail": …}`` (:class:`lrlab.train.stop.Stop`)
``epochs``    epochs finished (``null`` for a range test, which counts steps)
``steps``     optimizer steps taken
``best``      the metrics row at the best epoch by the monitored metric (``{}``: none)
``final``     the last row
``test``      the test split's metrics, ``test_<name>`` (``{}``: not evaluated)
``wall_time_s``, ``train_time_s``   seconds from start to end; seconds of training
============  ==========================================================================

and add only their own keys after them. Summaries written before the stop was structured say
``status`` and ``stop_reason`` instead: :func:`recorded_stop` reads either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrlab.train.loop import FitResult
    from lrlab.train.monitor import Monitor
    from lrlab.train.stop import Stop

CORE_KEYS = ("stop", "epochs", "steps", "best", "final", "test", "wall_time_s", "train_time_s")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class SummaryCore:
    """The keys every ``summary.json`` starts with (see the module docs)."""

    stop: Stop
    epochs: int | None
    steps: int
    best: Mapping[str, float]
    final: Mapping[str, float]
    wall_time_s: float
    train_time_s: float
    test: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of_fit(
        cls, result: FitResult, best: Mapping[str, float], test: Mapping[str, float] | None = None
    ) -> SummaryCore:
        """The core of a fit's summary: ``best`` its best row, ``test`` the test metrics."""
        return cls(
            stop=result.stop,
            epochs=len(result.history),
            steps=result.steps,
            best=best,
            final=result.final,
            wall_time_s=result.seconds,
            train_time_s=sum(row.get("time_s", 0.0) for row in result.history),
            test=test or {},
        )

    def to_dict(self) -> dict[str, Any]:
        """The core keys, in :data:`CORE_KEYS` order, as JSON-ready data."""
        return {
            "stop": self.stop.to_dict(),
            "epochs": self.epochs,
            "steps": self.steps,
            "best": dict(self.best),
            "final": dict(self.final),
            "test": dict(self.test),
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
        }


def best_row(history: Sequence[Mapping[str, float]], monitor: Monitor) -> dict[str, float]:
    """The row of ``history`` at which ``monitor`` last improved (``{}`` when it never did), as
    ``best.pt`` and early stopping see the epochs. ``monitor`` is updated as it reads them: pass
    a fresh one; afterwards its ``best`` and ``best_epoch`` are the row's."""
    best: dict[str, float] = {}
    for row in history:
        if monitor.metric in row and monitor.update(row[monitor.metric], int(row["epoch"])):
            best = dict(row)
    return best


def recorded_stop(summary: Mapping[str, Any]) -> dict[str, str]:
    """The stop a summary records, ``{"kind": …, "detail": …}`` (``"unknown"`` where it says
    nothing): its ``stop``, or an older summary's ``status`` and ``stop_reason``."""
    stop = summary.get("stop")
    if isinstance(stop, Mapping):
        kind, detail = stop.get("kind"), stop.get("detail")
    else:
        kind, detail = summary.get("status"), summary.get("stop_reason")
    return {
        "kind": UNKNOWN if kind is None else str(kind),
        "detail": UNKNOWN if detail is None else str(detail),
    }
