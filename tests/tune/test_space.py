"""Search spaces: conditional parameters, built-in optimizer-aware spaces, schedules sized to each
trial, batch-size-aware LR, and trials rebuilt from their parameters."""

from __future__ import annotations

import math

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.config import Experiment, validate
from lrlab.data import load_dataset
from lrlab.errors import LrlabError
from lrlab.optim import parse_optimizer
from lrlab.scaling import ScalingRule
from lrlab.schedules import parse
from lrlab.task import Task
from lrlab.tune.objective import updates_per_epoch
from lrlab.tune.space import build_space, rescale_steps, sized_schedule
from tests.tune.conftest import batches_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


def experiment(search: dict[str, str], **tables: dict[str, object]) -> Experiment:
    return validate({"search": search, "train": {"epochs": 8, "interval": "epoch"}, **tables})


def sample(exp: Experiment, seed: int = 0, count: int = 20) -> list[tuple[Experiment, dict[str, object]]]:
    space = build_space(exp)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(count):
        trial = study.ask()
        drawn.append((space.sample(trial, steps_per_epoch=batches_of(1000)), dict(trial.params)))
        study.tell(trial, 0.0)
    return drawn


def test_optimizer_settings_are_drawn_only_for_the_optimizers_that_have_them() -> None:
    exp = experiment(
        {
            "optimizer": "choice('sgd', 'rmsprop', 'adam')",
            "momentum": "uniform(0.5, 0.99)",
            "alpha": "1 - loguniform(0.001, 0.1)",
            "eps": "loguniform(1e-10, 1e-6)",
            "beta2": "1 - loguniform(1e-4, 0.1)",
        }
    )
    seen = set()
    for drawn, params in sample(exp, count=30):
        spec = parse_optimizer(drawn.optimizer.name)
        settings = dict(spec.settings)
        seen.add(spec.name)
        expected = {
            "sgd": {"optimizer", "momentum"},
            "rmsprop": {"optimizer", "1-alpha", "eps"},
            "adam": {"optimizer", "eps", "1-beta2"},
        }[spec.name]
        assert set(params) == expected
        if spec.name == "sgd":
            assert settings["momentum"] == params["momentum"]
        if spec.name == "rmsprop":
            assert settings["alpha"] == pytest.approx(1 - params["1-alpha"])  # type: ignore[operator]
        if spec.name == "adam":
            assert settings["betas"] == (0.9, pytest.approx(1 - params["1-beta2"]))  # type: ignore[operator]
    assert seen == {"sgd", "rmsprop", "adam"}


@pytest.mark.parametrize("space", ["sgd", "rmsprop", "adam", "adamw"])
def test_builtin_spaces_search_log_lr_decay_and_one_minus_beta_warmup_and_schedule(space: str) -> None:
    described = build_space(experiment({"space": space})).describe()
    assert described["lr"].startswith("loguniform(") and described["weight_decay"].startswith("loguniform(")
    assert described["warmup"] == "int(0, 2)"  # at most a quarter of the 8 epochs
    assert "cosine" in described["schedule"]
    one_minus = {"sgd": ["momentum"], "rmsprop": ["alpha"], "adam": ["beta1", "beta2"]}.get(
        space, ["beta1", "beta2"]
    )
    for key in one_minus:
        assert described[key].startswith("1 - loguniform(")
    for drawn, params in sample(experiment({"space": space}), count=5):
        assert parse_optimizer(drawn.optimizer.name).name == space
        assert math.isclose(drawn.optimizer.lr, params["lr"])  # type: ignore[arg-type]


def test_without_a_search_table_the_optimizers_own_space_is_searched() -> None:
    exp = validate({"optimizer": {"name": "rmsprop(centered=true)"}})
    space = build_space(exp)
    assert "alpha" in space.describe() and "momentum" not in space.describe()
    drawn, _ = sample(exp, count=1)[0]
    assert dict(parse_optimizer(drawn.optimizer.name).settings)["centered"] is True  # kept


def test_the_optimizers_space_names_each_optimizers_parameters_apart() -> None:
    described = build_space(experiment({"space": "optimizers"})).describe()
    assert described["optimizer"] == 'choice("sgd()", "rmsprop()", "adamw()")'
    assert {"sgd.lr", "rmsprop.lr", "adamw.lr", "sgd.momentum", "rmsprop.alpha", "adamw.beta2"} <= set(
        described
    )
    user = build_space(experiment({"space": "optimizers", "lr": "loguniform(1e-4, 1)"})).describe()
    assert "lr" in user and "sgd.lr" not in user  # a key of the table replaces the built-in ones


def test_keys_of_the_table_replace_builtin_ones_and_dotted_keys_reach_any_setting() -> None:
    exp = experiment({"space": "sgd", "schedule": "choice('linear')", "train.epochs": "int(4, 6)"})
    for drawn, params in sample(exp, count=8):
        assert 4 <= drawn.train.epochs <= 6 and params["train.epochs"] == drawn.train.epochs
        rest = drawn.train.epochs - params["warmup"]  # type: ignore[operator]
        assert drawn.schedule.endswith(f"linear(steps={rest}, end=0.01)")


def test_impossible_spaces_are_refused_before_any_training() -> None:
    with pytest.raises(LrlabError, match=r"search.alpha applies to rmsprop only, but the optimizer is sgd"):
        build_space(experiment({"alpha": "uniform(0.8, 0.99)"}))
    with pytest.raises(LrlabError, match=r"search.warmup must be below train.epochs=4"):
        build_space(experiment({"warmup": "int(0, 5)", "train.epochs": "int(4, 10)"}))
    with pytest.raises(
        LrlabError, match=r"search.plateau.factor = 'uniform\(0.5, 1.5\)': plateau.factor must be"
    ):
        build_space(experiment({"plateau.factor": "uniform(0.5, 1.5)"}))


@pytest.mark.parametrize(
    ("choice", "warmup", "steps_per_epoch", "expected"),
    [
        ("cosine", 0, 1, "cosine(steps=8, end=0.01)"),
        ("cosine", 2, 10, "warmup(steps=20, start=0.1) >> cosine(steps=60, end=0.01)"),
        ("multistep", 0, 1, "multistep(milestones=[4, 6])"),
        ("constant", 2, 10, "warmup(steps=20, start=0.1) >> constant()"),
        ("exponential", 0, 1, "exponential(gamma=0.01, every=8)"),
        ("cosine(steps=5)", 1, 1, "warmup(steps=1, start=0.1) >> cosine(steps=5)"),
    ],
)
def test_named_families_are_sized_from_the_end_of_warmup_to_the_last_epoch(
    choice: str, warmup: int, steps_per_epoch: int, expected: str
) -> None:
    assert sized_schedule(choice, 8, warmup, steps_per_epoch) == expected


def test_a_budget_in_steps_sizes_the_families_to_the_updates() -> None:
    assert (
        sized_schedule("cosine", 3, 1, 100, steps=250)
        == "warmup(steps=100, start=0.1) >> cosine(steps=150, end=0.01)"
    )
    assert sized_schedule("linear", 3, 0, 100, steps=250) == "linear(steps=250, end=0.01)"


def test_lr_scales_with_the_batch_size_and_step_durations_follow() -> None:
    exp = validate(
        {
            "schedule": "warmup(steps=100, start=0.1) >> cosine(steps=900)",
            "train": {"epochs": 4, "batch_size": 128},
            "optimizer": {"name": "adamw()", "lr": 0.001},
            "search": {"batch_size": "choice(64, 256)", "lr": "choice(0.001)"},
        }
    )
    space = build_space(exp)
    for rule, expected in (("linear", 2.0), ("sqrt", math.sqrt(2.0))):
        drawn = space.sample(
            optuna.trial.FixedTrial({"batch_size": 256, "lr": 0.001}),
            steps_per_epoch=batches_of(1000),
            scaling=ScalingRule(rule, 128),  # type: ignore[arg-type]
        )
        assert drawn.optimizer.lr == pytest.approx(0.001 * expected)
        assert drawn.schedule == "warmup(steps=50, start=0.1) >> cosine(steps=450)"
    small = space.sample(
        optuna.trial.FixedTrial({"batch_size": 64, "lr": 0.001}),
        steps_per_epoch=batches_of(1000),
        scaling=ScalingRule("linear", 128),
    )
    assert small.optimizer.lr == pytest.approx(0.0005)
    assert small.schedule == "warmup(steps=200, start=0.1) >> cosine(steps=1800)"
    unscaled = space.sample(
        optuna.trial.FixedTrial({"batch_size": 256, "lr": 0.001}), steps_per_epoch=batches_of(1000)
    )
    assert unscaled.optimizer.lr == 0.001 and unscaled.schedule == exp.schedule


def test_a_trials_updates_per_epoch_follow_its_batch_size() -> None:
    exp = validate({"train": {"batch_size": 32}})
    data = load_dataset("synthetic-classification(n=100)", seed=0, normalize=False)
    per_epoch = updates_per_epoch(data, exp)
    samples = len(data.x_train)
    assert [per_epoch(batch) for batch in (32, 64, 7)] == [-(-samples // b) for b in (32, 64, 7)]
    task = Task(train=range(10), steps_per_epoch=10)  # ten batches of 32 samples
    per_epoch = updates_per_epoch(task, exp)
    assert [per_epoch(batch) for batch in (32, 64, 48)] == [10, 5, 7]


def test_rescaling_touches_every_duration_and_point_in_steps() -> None:
    schedule = parse("warmup(steps=10, start=0.1) >> multistep(milestones=[100, 200], gamma=0.5)")
    assert (
        rescale_steps(schedule, 2.0)
        == "warmup(steps=5, start=0.1) >> multistep(milestones=[50, 100], gamma=0.5)"
    )
    assert rescale_steps(parse("step(every=3)"), 10.0) == "step(every=1)"  # never below one step
    piecewise = parse("piecewise(points=[[0, 1.0], [100, 0.1]])")
    assert rescale_steps(piecewise, 2.0) == "piecewise(points=[[0, 1.0], [50, 0.1]])"
    nested = parse("scale(skip(cosine_restarts(steps=100, cycles=3), steps=10), factor=0.5)")
    assert (
        rescale_steps(nested, 2.0) == "scale(skip(cosine_restarts(steps=50, cycles=3), steps=5), factor=0.5)"
    )


def test_a_trial_is_rebuilt_exactly_from_its_parameters() -> None:
    exp = experiment({"space": "optimizers"})
    space = build_space(exp)
    for drawn, params in sample(exp, seed=3, count=10):
        assert space.sample(optuna.trial.FixedTrial(params), steps_per_epoch=batches_of(1000)) == drawn


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["sgd", "rmsprop", "adam", "adamw", "optimizers"]), st.integers(0, 2**16))
def test_every_drawn_trial_is_a_valid_experiment(space: str, seed: int) -> None:
    for drawn, _ in sample(experiment({"space": space}), seed=seed, count=3):
        assert isinstance(drawn, Experiment) and drawn.search == {}
        parse(drawn.schedule)


def test_sgds_builtin_momentum_averages_over_3_to_33_steps() -> None:
    exp = experiment({"space": "sgd"})
    assert build_space(exp).describe()["momentum"] == "1 - loguniform(0.03, 0.3)"
    for drawn, params in sample(exp, count=30):
        momentum = dict(parse_optimizer(drawn.optimizer.name).settings)["momentum"]
        assert 0.7 <= momentum <= 0.97 and momentum == pytest.approx(1 - params["1-momentum"])  # type: ignore[operator]
