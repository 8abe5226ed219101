"""The range test of an experiment (``lrlab.finder.experiment``): the folder each set of options
names, the training length a recommendation is for, and the record ``summary.json`` keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lrlab.config import Experiment
from lrlab.data import Data, load_dataset
from lrlab.distributed import World
from lrlab.finder import Sweep, find_lr, recommend
from lrlab.finder.experiment import (
    Options,
    confirm_config,
    ladder,
    range_test_folder,
    recommendation_record,
    schedule_length,
    sweep_config,
)
from lrlab.train.feed import steps_per_epoch


@pytest.fixture(scope="module")
def data() -> Data:
    return load_dataset("digits", val_fraction=0.1)


def experiment(**train: object) -> Experiment:
    return Experiment.model_validate({"name": "digits-test", "train": {"device": "cpu", **train}})


def test_the_folder_is_named_for_the_run_and_the_options(tmp_path: Path) -> None:
    base = experiment()
    folder = range_test_folder(tmp_path, base, Options(), 1)
    assert folder.parent == tmp_path / "digits-test" and folder.name.startswith("find-lr-")
    assert range_test_folder(tmp_path, base, Options(), 1) == folder  # the same command, the same folder
    others = {
        range_test_folder(tmp_path, base, Options(steps=60), 1),
        range_test_folder(tmp_path, base, Options(validation=True), 1),
        range_test_folder(tmp_path, base, Options(), 2),
        range_test_folder(tmp_path, experiment(seed=1), Options(), 1),
    }
    assert folder not in others and len(others) == 4
    momentum = range_test_folder(tmp_path, base, Options(param="momentum"), 1)
    assert momentum.name.startswith("find-momentum-")


@pytest.mark.parametrize(
    ("train", "length"),
    [
        ({"epochs": 3}, lambda per_epoch: 3 * per_epoch),
        ({"epochs": 3, "steps": 500}, lambda per_epoch: 500),
        ({"epochs": 3, "interval": "epoch"}, lambda per_epoch: 3),
        ({"epochs": 3, "steps": 25, "interval": "epoch"}, lambda per_epoch: -(-25 // per_epoch)),
        ({"epochs": 1, "interval": "epoch"}, lambda per_epoch: 2),  # recommend needs 2 at least
    ],
)
def test_the_schedule_is_for_the_training_lrlab_train_runs(
    data: Data, train: dict[str, object], length: Callable[[int], int]
) -> None:
    run = experiment(**train)
    per_epoch = steps_per_epoch(data, run.train.batch_size, World())
    assert schedule_length(run, data, World()) == length(per_epoch)


def test_settings_come_from_the_experiment_and_the_options() -> None:
    run = experiment(batch_size=64, seed=3, grad_clip=1.0)
    config = sweep_config(run, Options(divergence=5.0, accumulation=2, validation=True))
    assert (config.batch_size, config.seed, config.grad_clip) == (64, 3, 1.0)
    assert (config.divergence, config.accumulation, config.validation) == (5.0, 2, True)
    fit = confirm_config(run, 2)
    assert (fit.epochs, fit.batch_size, fit.seed, fit.quiet) == (2, 64, 3, True)
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert ladder(optimizer, Options(steps=50)) == Sweep(1e-5, 10.0, 50)
    assert ladder(optimizer, Options(start=1e-3, steps=50)) == Sweep(1e-3, 10.0, 50)
    assert ladder(optimizer, Options(param="momentum", steps=50)).mode == "linear"


def test_the_record_holds_the_recommendation(data: Data, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    config = sweep_config(experiment(), Options())
    result = find_lr(model, data, optimizer, sweep=Sweep(1e-4, 10.0, 60), config=config)
    recommendation = recommend(result, 100)
    record = recommendation_record(
        result, recommendation, command="lrlab train", folder=tmp_path, processes=1
    )
    assert record["suggested_lr"] == recommendation.lr and record["command"] == "lrlab train"
    assert record["schedule"] == recommendation.schedule and record["stop_reason"] == result.stop_reason
    assert record["steps"] == len(result.values) and record["run_dir"] == str(tmp_path)
    assert set(record["methods"]) == {a.method for a in result.suggestions}
    assert "confirmation" not in record
    other = dataclasses.replace(result, param="momentum")
    record = recommendation_record(other, recommendation, command=None, folder=tmp_path, processes=2)
    assert record["suggested_momentum"] == other.suggestion.value and "suggested_lr" not in record
    assert record["range"] is record["schedule"] is record["one_cycle"] is None
    assert record["processes"] == 2
