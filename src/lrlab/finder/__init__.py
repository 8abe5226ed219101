"""The LR range test (``lrlab find-lr``): sweep, suggestions, recommendation and plot.

Four pieces: the sweep (:class:`Sweep`, the ladder; :func:`run_sweep`, the run that always
restores the model, optimizer and random generators), pure suggestion functions in a registry
(:data:`METHODS`, the default :func:`combine`), the recommendation (:func:`recommend`,
:func:`confirm`) and the picture (:func:`plot_range_test`). :func:`find_lr` puts the first two
together and returns a frozen :class:`RangeTestResult`.

Modules: ``hyperparameter`` (what a test sweeps, written into the param groups), ``sweep`` (the
ladder and the run), ``restore``, ``curve`` and ``descent`` (the curve the suggestions read),
``suggest`` (the methods), ``find`` (:func:`find_lr`, :func:`range_test`), ``outcome`` (the
result and its files), ``recommend``, ``plot``, and ``experiment`` (a test of an
:class:`~lrlab.config.Experiment` as ``lrlab find-lr`` runs it: options, folder, record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrlab.finder.curve import Curve, trend
from lrlab.finder.find import find_lr, range_test
from lrlab.finder.outcome import RangeTestResult, write_range_test
from lrlab.finder.recommend import Confirmation, Recommendation, Trial, confirm, recommend
from lrlab.finder.suggest import METHODS, Suggestion, combine, register, suggest_all
from lrlab.finder.sweep import Sweep, SweepConfig, Trace, default_sweep, run_sweep
from lrlab.smoothing import ema

if TYPE_CHECKING:
    from lrlab.finder.plot import plot_range_test

__all__ = [
    "METHODS",
    "Confirmation",
    "Curve",
    "RangeTestResult",
    "Recommendation",
    "Suggestion",
    "Sweep",
    "SweepConfig",
    "Trace",
    "Trial",
    "combine",
    "confirm",
    "default_sweep",
    "ema",
    "find_lr",
    "plot_range_test",
    "range_test",
    "recommend",
    "register",
    "run_sweep",
    "suggest_all",
    "trend",
    "write_range_test",
]


def __getattr__(name: str) -> Any:
    if name == "plot_range_test":  # imported lazily: it needs matplotlib
        from lrlab.finder.plot import plot_range_test

        return plot_range_test
    raise AttributeError(f"module 'lrlab.finder' has no attribute {name!r}")
