"""``find_lr``/``range_test`` end to end on small data: the frozen result, its rows and summary,
the files of a run folder, repeats, hyperparameter tests, the recommendation, the confirmation
and the plot."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from lrlab.data import Data, load_dataset
from lrlab.errors import LrlabError
from lrlab.finder import (
    RangeTestResult,
    Sweep,
    SweepConfig,
    confirm,
    find_lr,
    plot_range_test,
    range_test,
    recommend,
    write_range_test,
)
from lrlab.finder.recommend import Trial, _choose, confirm_factors, confirm_lrs, warmup_cosine
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.schedules import parse
from lrlab.train import FitConfig

CPU = SweepConfig(device="cpu")


@pytest.fixture(scope="module")
def data() -> Data:
    return load_dataset("digits", val_fraction=0.1)


def fresh(
    data: Data, spec: str = "sgd(momentum=0.9)", lr: float = 0.1
) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = build_model("mlp(widths=[32])", data.input_shape, 10)
    return model, build_optimizer(model, spec, lr)


def test_a_default_sweep_sees_12800_samples_whatever_the_batch(data: Data) -> None:
    model, optimizer = fresh(data, "sgd()")
    small = find_lr(model, data, optimizer, config=SweepConfig(batch_size=16, device="cpu"))
    assert len(small.values) == 800 or small.stop.kind == "diverged"
    assert small.values[-1] <= 10.0 and small.values[1] / small.values[0] == pytest.approx(10 ** (6 / 799))
    large = find_lr(model, data, optimizer, config=SweepConfig(batch_size=256, device="cpu"))
    assert large.values[1] / large.values[0] == pytest.approx(10 ** (6 / 99))  # 100 steps: the least


@pytest.fixture(scope="module")
def result(data: Data) -> RangeTestResult:
    model, optimizer = fresh(data)
    return find_lr(model, data, optimizer, config=CPU)


def test_the_result_is_frozen_and_complete(result: RangeTestResult) -> None:
    n = len(result.values)
    assert result.param == "lr" and result.lrs == result.values and n > 20
    assert len(result.losses) == len(result.smoothed) == len(result.trend) == n
    assert result.values[0] == pytest.approx(1e-5) and result.momentum == 0.9
    assert result.suggestion.method == "lrlab" and result.suggested_lr == result.suggestion.value
    assert {a.method for a in result.suggestions} == {"edge", "steepest", "valley", "minimum"}
    assert result.suggested_lr is not None and 1e-4 < result.suggested_lr < 1.0
    assert result.method("valley").method == "valley"
    assert result.lowest is not None and result.suggested_lr <= result.lowest
    assert result.stop.kind == ("finished" if n == 100 else "diverged")
    assert result.stop_reason.startswith(result.stop.kind)
    with pytest.raises(LrlabError, match="name must be one of"):
        result.method("slide")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.stop_reason = "changed"  # type: ignore[misc]


def test_rows_and_summary_are_plain_data(result: RangeTestResult, tmp_path: Path) -> None:
    rows = result.rows()
    assert [row["step"] for row in rows] == list(range(len(result.values)))
    summary = result.summary()
    assert summary["suggested"]["value"] == result.suggested_lr
    assert set(summary["methods"]) == {"edge", "steepest", "valley", "minimum"}
    folder = write_range_test(result, tmp_path / "run", {"note": "extra"})
    with (folder / "steps.csv").open() as file:
        table = list(csv.DictReader(file))
    assert list(table[0]) == ["step", "lr", "loss", "smoothed", "trend"]
    assert [float(row["lr"]) for row in table] == list(result.values)
    written = json.loads((folder / "summary.json").read_text())
    assert written["note"] == "extra" and written["suggested"]["value"] == result.suggested_lr


def test_repeats_run_more_sweeps_and_leave_the_model_alone(data: Data) -> None:
    model, optimizer = fresh(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = find_lr(model, data, optimizer, config=CPU, repeats=3)
    assert result.repeats == 3 and "3 sweeps within" in result.suggestion.reason
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(LrlabError, match="repeats must be an integer >= 1"):
        find_lr(model, data, optimizer, config=CPU, repeats=0)


def test_a_range_without_a_descent_says_so(data: Data) -> None:
    model, optimizer = fresh(data)
    result = find_lr(model, data, optimizer, sweep=Sweep(1e-9, 1e-8, 40), config=CPU)
    assert result.suggested_lr is None
    assert result.stop.to_dict() == {"kind": "finished", "detail": "finished 40 steps"}
    assert (
        result.suggestion.reason.startswith("no reliable suggestion") and "noise" in result.suggestion.reason
    )
    recommendation = recommend(result, 100)
    assert recommendation.lr is None and recommendation.schedule is None and recommendation.range is None


@pytest.mark.parametrize(("param", "spec"), [("weight_decay", "sgd(momentum=0.9)"), ("momentum", "sgd()")])
def test_hyperparameter_range_tests_use_the_same_machinery(data: Data, param: str, spec: str) -> None:
    model, optimizer = fresh(data, spec, lr=0.05)
    result = range_test(model, data, optimizer, param, config=CPU)  # type: ignore[arg-type]
    assert result.param == param and [a.method for a in result.suggestions] == ["edge"]
    assert list(result.rows()[0]) == ["step", param, "loss", "smoothed", "trend"]
    plot_range_test(result)


def test_the_recommendation_is_ready_to_train_with(result: RangeTestResult) -> None:
    recommendation = recommend(result, 200)
    lr = result.suggested_lr
    assert recommendation.lr == lr and lr is not None and recommendation.range is not None
    base, high = recommendation.range
    assert base == pytest.approx(lr / 3) and lr <= high <= 3 * lr
    assert recommendation.schedule == warmup_cosine(200)
    for spec in (recommendation.schedule, recommendation.one_cycle):
        assert spec is not None and str(parse(spec)) == spec  # canonical: `lrlab train --schedule` takes it
    assert parse(recommendation.schedule).values(200)[199] == pytest.approx(0.01, abs=1e-3)
    with pytest.raises(LrlabError, match="steps must be an integer >= 2"):
        recommend(result, 1)


def test_confirmation_trains_around_the_suggestion_and_keeps_the_best(data: Data) -> None:
    assert confirm_factors(3) == pytest.approx([1 / 3, 1, 3])
    assert confirm_factors(1) == [1.0]

    def build(lr: float) -> tuple[nn.Module, torch.optim.Optimizer]:
        return fresh(data, "sgd(momentum=0.9)", lr)

    config = FitConfig(epochs=1, device="cpu", quiet=True)
    confirmation = confirm(build, data, 3e-3, trainings=3, config=config)  # too small: ×3 wins
    assert confirmation.metric == "val_acc" and len(confirmation.trials) == 3
    assert [t.lr for t in confirmation.trials] == pytest.approx([1e-3, 3e-3, 9e-3])
    assert confirmation.best_lr == pytest.approx(9e-3)
    assert max(t.score for t in confirmation.trials) == confirmation.trials[-1].score
    capped = confirm(build, data, 3e-3, trainings=3, config=config, cap=5e-3)
    assert [t.lr for t in capped.trials] == pytest.approx([1e-3, 3e-3, 5e-3])  # ×3 past the cap: up to it
    at_cap = confirm(build, data, 3e-3, trainings=3, config=config, cap=3e-3)
    assert [t.lr for t in at_cap.trials] == pytest.approx([1e-3 / 3, 1e-3, 3e-3])  # no room above: below
    with pytest.raises(LrlabError, match="trainings must be an integer >= 1"):
        confirm(build, data, 0.1, trainings=0)


@pytest.mark.parametrize("trainings", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("cap", [None, 1e-3, 0.5, 1.0, 1.5, 3.0, 100.0])
def test_a_confirmation_tries_exactly_the_trainings_it_announces(trainings: int, cap: float | None) -> None:
    lrs = confirm_lrs(1.0, trainings, cap)
    assert len(lrs) == trainings and lrs == sorted(lrs)
    assert len({round(x, 9) for x in lrs}) == trainings and min(abs(x - 1.0) for x in lrs) < 1e-9
    assert cap is None or max(lrs) <= max(cap, 1.0) * (1 + 1e-9)


def test_confirmation_prefers_the_smaller_lr_within_one_standard_error() -> None:
    trials = [Trial(0.01, 0.90, ""), Trial(0.03, 0.91, ""), Trial(0.1, 0.92, "")]
    assert _choose(trials, "val_acc", 144) == 0.01  # 2 points is within the error of 144 samples
    assert _choose(trials, "val_acc", 100_000) == 0.1  # and well beyond that of 100,000
    failed = [Trial(0.01, 0.90, ""), Trial(0.03, math.nan, "diverged")]
    assert _choose(failed, "val_acc", 144) == 0.01
    losses = [Trial(0.01, 0.5, ""), Trial(0.03, 0.4, ""), Trial(0.1, math.inf, "")]
    assert _choose(losses, "val_loss", 144) == 0.03  # regression: the lowest validation loss


def test_the_plot_marks_every_method_and_the_choice(result: RangeTestResult, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    figure = plot_range_test(result)
    ax = figure.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any(label.startswith("suggested") for label in labels)
    assert all(any(label.startswith(a.method) for label in labels) for a in result.suggestions)
    assert ax.get_xscale() == "log" and "suggested" in ax.get_title()
    reused = Figure().add_subplot()
    assert plot_range_test(result, ax=reused) is reused.figure
    figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
    assert math.isfinite(ax.get_ylim()[1])
