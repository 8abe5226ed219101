"""One summary.json shape: a training run, a tune trial, the final retrain and a range test all
start with the same core keys, the stop structured; older summaries still read; the best row of
a history is chosen once; metrics.csv reads back what was written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from lrlab.config import Experiment
from lrlab.finder import find_lr, write_range_test
from lrlab.finder.sweep import SweepConfig
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.record import write_text
from lrlab.record.metrics import metrics_text, read_metrics
from lrlab.record.summary import CORE_KEYS, best_row, recorded_stop
from lrlab.train.monitor import Monitor
from lrlab.train.run import train
from lrlab.train.setup import load_task
from lrlab.train.stop import KINDS
from lrlab.tune.final import Candidate, merged_data, retrain_first_sound
from lrlab.tune.objective import Objective
from lrlab.tune.space import SearchSpace

EXPERIMENT = {
    "name": "shapes",
    "task": {"dataset": "digits", "model": "mlp(widths=[16])"},
    "train": {"epochs": 1, "batch_size": 256, "device": "cpu"},
}


def read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_the_four_producers_write_the_same_core_keys(tmp_path: Path) -> None:
    experiment = Experiment.model_validate(EXPERIMENT)
    summaries = {
        "train": read(train(experiment, run_dir=tmp_path / "train", quiet=True).run_dir / "summary.json")
    }

    objective = Objective(SearchSpace(experiment, ()), tmp_path / "study")
    trial = optuna.trial.FixedTrial({}, number=0)
    objective.fit_one(experiment, load_task(experiment), tmp_path / "trial", trial, offset=0)  # type: ignore[arg-type]
    summaries["trial"] = read(tmp_path / "trial" / "summary.json")

    retrain_first_sound([Candidate(0, experiment)], merged_data(experiment), tmp_path / "final", [])
    summaries["final"] = read(tmp_path / "final" / "final-trial0" / "summary.json")

    data = load_task(experiment)
    model = build_model("mlp(widths=[16])", (1, 8, 8), 10)
    result = find_lr(model, data, build_optimizer(model, "sgd()", lr=0.1), config=SweepConfig(device="cpu"))
    summaries["find-lr"] = read(write_range_test(result, tmp_path / "find") / "summary.json")

    for producer, summary in summaries.items():
        assert tuple(summary)[: len(CORE_KEYS)] == CORE_KEYS, producer
        assert set(summary["stop"]) == {"kind", "detail"} and summary["stop"]["kind"] in KINDS, producer
        assert "status" not in summary and "stop_reason" not in summary, producer
        assert isinstance(summary["steps"], int) and summary["steps"] > 0, producer
    assert [summaries[name]["epochs"] for name in ("train", "trial", "final")] == [1, 1, 1]
    assert summaries["find-lr"]["epochs"] is None and summaries["find-lr"]["test"] == {}
    assert summaries["trial"]["test"] == {} and set(summaries["final"]["test"]) == {"test_loss", "test_acc"}
    assert summaries["train"]["stop"] == {"kind": "finished", "detail": "finished 1 epochs"}
    assert summaries["trial"]["value"] == summaries["trial"]["best"]["val_loss"]
    assert summaries["find-lr"]["stop"]["detail"] == result.stop_reason


def test_a_summary_before_the_structured_stop_still_reads() -> None:
    assert recorded_stop({"status": "diverged", "stop_reason": "diverged at epoch 2"}) == {
        "kind": "diverged",
        "detail": "diverged at epoch 2",
    }
    assert recorded_stop({"stop": {"kind": "pruned", "detail": "pruned at epoch 1"}})["kind"] == "pruned"
    assert recorded_stop({"stop_reason": "finished 3 epochs"}) == {
        "kind": "unknown",
        "detail": "finished 3 epochs",
    }
    assert recorded_stop({}) == {"kind": "unknown", "detail": "unknown"}


def test_the_best_row_is_where_the_monitor_last_improved() -> None:
    history = [
        {"epoch": 1.0, "val_loss": 0.9},
        {"epoch": 2.0, "val_loss": 0.5},
        {"epoch": 3.0, "val_loss": math.nan},
        {"epoch": 4.0, "val_loss": 0.45},
        {"epoch": 5.0},
    ]
    assert best_row(history, Monitor("val_loss"))["epoch"] == 4
    assert best_row(history, Monitor("val_loss", min_delta=0.1))["epoch"] == 2
    assert best_row(history, Monitor("val_loss", baseline=0.1)) == {}
    monitor = Monitor("val_acc")
    assert best_row(history, monitor) == {} and monitor.best is None


def test_metrics_read_back_as_written(tmp_path: Path) -> None:
    rows = [{"epoch": 1.0, "lr": 0.1, "val_loss": math.inf}, {"epoch": 2.0, "lr": 1e-7, "val_loss": 0.25}]
    path = write_text(tmp_path / "metrics.csv", metrics_text(rows, ["epoch", "lr", "val_loss"], header=True))
    assert path.read_text(encoding="utf-8").splitlines()[1] == "1,0.1,inf"
    assert read_metrics(path) == tuple(rows)
    with pytest.raises(ValueError, match="no epoch"):
        read_metrics(write_text(tmp_path / "bad.csv", "lr\n0.1\n"))
