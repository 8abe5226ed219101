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
from lrlab.tune.objective import TrialReporter
from lrlab.tune.run import tune
from lrlab.tune.samplers import PRUNERS, SAMPLERS, first_rung, grid_of, make_pruner, make_sampler
from lrlab.tune.space import build_space
from lrlab.tune.study import TuneConfig
from tests.tune.conftest import batches_of

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
        drawn = space.sample(trial, steps_per_epoch=batches_of(1000))
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


@pytest.mark.parametrize(("steps", "first"), [(1, 1), (2, 1), (3, 2), (4, 2), (8, 4), (20, 10), (60, 30)])
def test_the_first_rung_is_at_half_of_a_trials_steps(steps: int, first: int) -> None:
    assert first_rung(steps) == first


def prune_decisions(pruner: optuna.pruners.BasePruner, values: list[float], steps: int) -> list[list[bool]]:
    """For trials reporting ``value`` at steps 1 … ``steps``: whether the pruner stops each at
    each step (every trial runs on and completes, to see every decision)."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    decisions = []
    for value in values:
        trial = study.ask()
        row = []
        for step in range(1, steps + 1):
            trial.report(value, step)
            row.append(trial.should_prune())
        decisions.append(row)
        study.tell(trial, value)
    return decisions


def test_asha_judges_a_3_epoch_trial_at_epoch_2_and_keeps_a_third() -> None:
    decisions = prune_decisions(make_pruner("asha", steps=3), [0.9, 0.1, 0.2, 0.95, 0.3, 0.92], steps=2)
    assert [row[0] for row in decisions] == [False] * 6  # epoch 1 says too little
    # at epoch 2 a trial goes on when it is the best so far or, once 3+ trials reached the
    # rung, among the best third of them
    assert [row[1] for row in decisions] == [False, True, True, False, True, False]


def test_asha_has_a_single_rung_at_half_a_20_epoch_trial() -> None:
    decisions = prune_decisions(make_pruner("asha", steps=20), [0.9, 0.1], steps=19)
    assert decisions[0] == [False] * 19
    assert decisions[1].index(True) + 1 == 10  # pruned at epoch 10, never before


def test_the_median_rule_waits_for_half_of_the_steps_too() -> None:
    decisions = prune_decisions(make_pruner("median", steps=4), [0.9] * 5 + [0.1], steps=3)
    assert decisions[-1] == [False, True, True]


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


class Stops:
    """The one thing a reporter asks of a run: ``stop``."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def stop(self, kind: str, detail: str) -> None:
        self.reasons.append(f"{kind}: {detail}")


@pytest.mark.parametrize(("epoch", "pruned"), [(1, True), (2, True), (3, False)])
def test_a_trial_is_never_pruned_at_its_last_step(epoch: int, pruned: bool) -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    trial = study.ask()
    reporter, run = TrialReporter(trial, "val_acc", offset=0, last=3), Stops()
    reporter.on_epoch_end(run, {"epoch": epoch, "val_acc": 0.5})  # type: ignore[arg-type]
    assert reporter.pruned is pruned and bool(run.reasons) is pruned
    assert study.trials[0].intermediate_values == {epoch: 0.5}  # reported either way


def test_the_last_step_of_cross_validation_is_that_of_the_last_fold() -> None:
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    trial = study.ask()
    first_fold = TrialReporter(trial, "val_acc", offset=0, last=6)
    first_fold.on_epoch_end(Stops(), {"epoch": 3, "val_acc": 0.5})  # type: ignore[arg-type]
    last_fold = TrialReporter(trial, "val_acc", offset=3, last=6)
    last_fold.on_epoch_end(Stops(), {"epoch": 3, "val_acc": 0.5})  # type: ignore[arg-type]
    assert first_fold.pruned and not last_fold.pruned


def test_the_tpe_sampler_finds_the_stand_ins_minimum() -> None:
    space = build_space(validate({"search": {"lr": "loguniform(1e-4, 1)"}}))
    study = optuna.create_study(sampler=make_sampler("tpe", seed=0, space=space, trials=40))
    study.optimize(
        lambda trial: stand_in(space.sample(trial, steps_per_epoch=batches_of(100)).optimizer.lr), n_trials=40
    )
    assert abs(math.log10(study.best_params["lr"] / 0.05)) < 0.3


def test_a_timeout_starts_no_trial_after_it_and_says_how_to_continue(tmp_path: Path) -> None:
    exp = validate({"name": "late", "task": {"val_fraction": 0.2}, "search": {"lr": "loguniform(1e-3, 1)"}})
    result = tune(exp, TuneConfig(trials=50, timeout=1e-6, out=tmp_path, report=False))
    assert result.best is None and result.counts == {}
    assert any("holds 0 of 50 finished trials; run the same command again" in note for note in result.notes)
