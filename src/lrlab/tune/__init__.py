"""Tuning (``lrlab tune``): Optuna studies over learning rate, schedule and optimizer settings.

The only package of lrlab that imports optuna, and only in the modules that run studies: the
``[search]`` grammar belongs to the experiment file (:mod:`lrlab.config.search`,
:mod:`lrlab.config.distributions`) and :mod:`~lrlab.tune.space` (search spaces → experiments)
loads without optuna, so reading an experiment file never needs it. Importing this package loads
the grammar only; the other names load on first use.

From the bottom up: :mod:`~lrlab.tune.space`, :mod:`~lrlab.tune.storage` (storage URLs, SQLite
made safe for several workers), :mod:`~lrlab.tune.samplers` (samplers and pruners by name),
:mod:`~lrlab.tune.budget` (the trials and training epochs a study may spend, counted from its
trials' records), :mod:`~lrlab.tune.study` (the settings, opening and checking a study, its
limits), :mod:`~lrlab.tune.objective` (a trial = a fit that reports each epoch, with pruning and
k-fold cross-validation), :mod:`~lrlab.tune.workers` (processes that run trials),
:mod:`~lrlab.tune.final` (the final retrain), :mod:`~lrlab.tune.export` (best.toml, trials.csv, the result),
:mod:`~lrlab.tune.report` (the HTML report) and :mod:`~lrlab.tune.run` (:func:`tune`, which runs
them in order). They pass Optuna's own objects through.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lrlab.config.distributions import Distribution, parse_distribution
from lrlab.config.schema import normalize_search
from lrlab.config.search import BUILTIN_SPACES, KEYS

if TYPE_CHECKING:
    from lrlab.scaling import ScalingRule
    from lrlab.tune.export import TuneResult
    from lrlab.tune.run import tune
    from lrlab.tune.samplers import PRUNERS, SAMPLERS, make_pruner, make_sampler
    from lrlab.tune.space import Param, SearchSpace, build_space
    from lrlab.tune.study import TuneConfig


__all__ = [
    "BUILTIN_SPACES",
    "KEYS",
    "PRUNERS",
    "SAMPLERS",
    "Distribution",
    "Param",
    "ScalingRule",
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
    "ScalingRule": ("lrlab.scaling", "ScalingRule"),
    "Param": ("lrlab.tune.space", "Param"),
    "SearchSpace": ("lrlab.tune.space", "SearchSpace"),
    "build_space": ("lrlab.tune.space", "build_space"),
    "PRUNERS": ("lrlab.tune.samplers", "PRUNERS"),
    "SAMPLERS": ("lrlab.tune.samplers", "SAMPLERS"),
    "make_pruner": ("lrlab.tune.samplers", "make_pruner"),
    "make_sampler": ("lrlab.tune.samplers", "make_sampler"),
    "TuneConfig": ("lrlab.tune.study", "TuneConfig"),
    "TuneResult": ("lrlab.tune.export", "TuneResult"),
    "tune": ("lrlab.tune.run", "tune"),
}


def __getattr__(name: str) -> Any:
    """Names that need torch or optuna load on first use (PEP 562): reading an experiment file
    or opening a study's storage imports neither."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
