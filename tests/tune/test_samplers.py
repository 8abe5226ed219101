"""Samplers and pruners by name are Optuna's own objects, and each samples lrlab's spaces (on a
cheap stand-in objective: nothing trains here)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from lrlab.config import validate
from lrlab.errors import LrlabError
from lrlab.optim import parse_optimizer
from lrlab.tune.space import build_space
from lrlab.tune.study import PRUNERS, SAMPLERS, TuneConfig, grid_of, make_pruner, make_sampler, tune

optuna.logging.set_verbosity(optuna.logging.WARNING)
GRID = {"lr": "choice(0.01, 0.1)", "momentum": "uniform(0.8, 0.9, step=0.1)", "warmup": "int(0, 1)"}


def stand_in(lr: float) -> float:
    """A smooth function of the LR with its minimum at 0.05."""
    return (math.log10(lr) - math.log10(0.05)) ** 2


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_samples_a_space(name: str) -> None:
    if name == "cmaes":
        pytest.importorskip("cmaes", reason="the cmaes sampler needs the cmaes package (a dev extra)")
    search = GRID if name == "grid" else {"space": "sgd"}
    exp = validate({"search": search, "train": {"epochs": 8, "interval": "epoch"}})
    space = build_space(exp)
    sampler = make_sampler(name, seed=0, space=space, trials=6)
    assert isinstance(sampler, optuna.samplers.BaseSampler)
    study = optuna.create_study(sampler=sampler)
    for _ in range(6):
        trial = study.ask()
        drawn = space.sample(trial, train_size=1000)
        assert parse_optimizer(drawn.optimizer.name).name == "sgd"
        study.tell(trial, stand_in(drawn.optimizer.lr))
    assert len(study.trials) == 6


def test_the_grid_lists_every_value_and_refuses_continuous_ranges() -> None:
    space = build_space(validate({"search": GRID, "train": {"epochs": 8}}))
    assert grid_of(space) == {"lr": [0.01, 0.1], "momentum": [0.8, 0.9], "warmup": [0, 1]}
    with pytest.raises(LrlabError, match=r"--sampler grid needs a finite set of values, but search.lr"):
        grid_of(build_space(validate({"search": {"lr": "loguniform(1e-3, 1)"}})))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("asha", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("median", optuna.pruners.MedianPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_pruners_by_name(name: str, kind: type[optuna.pruners.BasePruner]) -> None:
    assert name in PRUNERS and isinstance(make_pruner(name, steps=20), kind)


def test_the_tpe_sampler_finds_the_stand_ins_minimum() -> None:
    space = build_space(validate({"search": {"lr": "loguniform(1e-4, 1)"}}))
    study = optuna.create_study(sampler=make_sampler("tpe", seed=0, space=space, trials=40))
    study.optimize(lambda trial: stand_in(space.sample(trial, train_size=100).optimizer.lr), n_trials=40)
    assert abs(math.log10(study.best_params["lr"] / 0.05)) < 0.3


def test_a_timeout_starts_no_trial_after_it_and_says_how_to_continue(tmp_path: Path) -> None:
    exp = validate({"name": "late", "task": {"val_fraction": 0.2}, "search": {"lr": "loguniform(1e-3, 1)"}})
    result = tune(exp, TuneConfig(trials=50, timeout=1e-6, out=tmp_path, report=False))
    assert result.best is None and result.counts == {}
    assert any("holds 0 of 50 finished trials; run the same command again" in note for note in result.notes)
