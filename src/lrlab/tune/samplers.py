"""Samplers and pruners: Optuna's own, chosen by name (``--sampler``, ``--pruner``) and passed
through unchanged."""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna

from lrlab.errors import LrlabError, unknown
from lrlab.tune.space import SearchSpace

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp")
PRUNERS = ("asha", "hyperband", "median", "none")
REDUCTION = 3  # successive halving keeps 1/REDUCTION of the trials at each rung


def make_sampler(
    name: str, *, seed: int | None, space: SearchSpace, trials: int, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """Optuna's sampler ``name``: ``tpe`` (multivariate, grouped for conditional spaces; the
    default), ``random``, ``grid`` (every value of a space of choices, integers and stepped
    ranges), ``cmaes`` or ``gp``."""
    if name not in SAMPLERS:
        raise unknown("sampler", name, SAMPLERS)
    with warnings.catch_warnings():  # multivariate/group TPE and GP are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            startup = max(5, min(10, trials // 3))
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, n_startup_trials=startup, constant_liar=parallel
            )
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return optuna.samplers.GridSampler(grid_of(space), seed=seed)
        try:
            if name == "cmaes":
                return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
            return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        except ImportError as error:  # optional packages of these samplers (cmaes, scipy)
            raise LrlabError(f"--sampler {name} needs a package that is missing: {error}") from None


def grid_of(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of each parameter, for the grid sampler (choices, integers, stepped ranges)."""
    grid: dict[str, list[Any]] = {}
    for param in space.params:
        distribution, name = param.distribution, param.name
        if distribution.kind == "choice":
            grid[name] = list(distribution.choices)
        elif distribution.step is not None or distribution.kind == "int":
            step = distribution.step or 1
            count = math.floor((distribution.high - distribution.low) / step + 1e-9) + 1
            values = [distribution.low + i * step for i in range(count)]
            grid[f"1-{name}" if distribution.complement else name] = values
        else:
            raise LrlabError(
                f"--sampler grid needs a finite set of values, but search.{param.key} is "
                f"{distribution}; write it as choice(…) or uniform(a, b, step=s)."
            )
    return grid


def make_pruner(name: str, *, steps: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner ``name`` for trials of ``steps`` reported steps (epochs × folds):
    ``asha`` (successive halving, the default), ``hyperband``, ``median`` or ``none``.

    ASHA and the median rule first judge a trial at :func:`first_rung` (half of its steps):
    early epochs say little about the end (a network may sit on a plateau before it learns, a
    warmup or a high LR not yet decayed hides where a trial ends), while a rung at half still
    halves the cost of every trial it stops. ASHA keeps a third of the trials at each rung;
    Hyperband hedges over its brackets from a quarter of the steps. No pruner is asked at a
    trial's last step (:class:`~lrlab.tune.objective.TrialReporter`)."""
    first = first_rung(steps)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=REDUCTION)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, steps // 4), max_resource=steps, reduction_factor=REDUCTION
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise unknown("pruner", name, PRUNERS)


def first_rung(steps: int) -> int:
    """The first step at which a trial of ``steps`` steps may be pruned: half of them, rounded
    up (epoch 2 of 3, 10 of 20)."""
    return max(1, math.ceil(steps / 2))
