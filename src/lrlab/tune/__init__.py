"""Tuning (``lrlab tune``): Optuna studies over learning rate, schedule and optimizer settings.

The only package of lrlab that imports optuna, and only in the modules that run studies:
:mod:`~lrlab.tune.grammar` (the ``[search]`` grammar) and :mod:`~lrlab.tune.space` (search
spaces → experiments) load without it, so reading an experiment file never needs optuna.
Importing this package loads the grammar only; the other names load on first use.
:mod:`~lrlab.tune.objective` (a trial = a fit that reports each epoch, with pruning and k-fold
cross-validation), :mod:`~lrlab.tune.storage` (storage URLs, SQLite made safe for several
workers), :mod:`~lrlab.tune.study` (samplers and pruners by name, workers, resume),
:mod:`~lrlab.tune.export` (best configuration, final retrain) and :mod:`~lrlab.tune.report`
(the HTML report) pass Optuna's own objects through.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lrlab.tune.grammar import BUILTIN_SPACES, KEYS, Distribution, normalize_search, parse_distribution

if TYPE_CHECKING:
    from lrlab.tune.space import LrScaling, Param, SearchSpace, build_space
    from lrlab.tune.study import PRUNERS, SAMPLERS, TuneConfig, TuneResult, make_pruner, make_sampler, tune

__all__ = [
    "BUILTIN_SPACES",
    "KEYS",
    "PRUNERS",
    "SAMPLERS",
    "Distribution",
    "LrScaling",
    "Param",
    "SearchSpace",
    "TuneConfig",
    "TuneResult",
    "build_space",
    "make_pruner",
    "make_sampler",
    "normalize_search",
    "parse_distribution",
    "tune",
]
_LAZY = {
    "lrlab.tune.space": ("LrScaling", "Param", "SearchSpace", "build_space"),
    "lrlab.tune.study": (
        "PRUNERS",
        "SAMPLERS",
        "TuneConfig",
        "TuneResult",
        "make_pruner",
        "make_sampler",
        "tune",
    ),
}


def __getattr__(name: str) -> Any:
    """Names that need torch or optuna load on first use (PEP 562): reading an experiment file
    or opening a study's storage imports neither."""
    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
