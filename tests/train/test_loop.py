"""``fit`` end to end on tiny data: LRs per step, divergence retries, plateau and early stopping in a
real fit, exact resume, killed runs, regression, gradient clipping, checkpoint files, TensorBoard."""

from __future__ import annotations

import copy
import csv
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from lrlab.data import Data, load_dataset
from lrlab.errors import LrlabError
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.record.files import METRICS_CSV
from lrlab.schedules import parse
from lrlab.train import (
    Callback,
    Checkpoint,
    DivergenceGuard,
    EarlyStopping,
    FitConfig,
    FitResult,
    MetricsCsv,
    ReduceLROnPlateau,
    Run,
    fit,
)
from lrlab.train.logging import TensorBoardLogger

BATCH = 256  # digits: 1,437 training samples → 6 steps per epoch (the last one of 157)
STEPS_PER_EPOCH = 6
TIME_COLUMNS = ("time_s", "samples_per_s")
SCHEDULE = "warmup(steps=6, start=0.1) >> cosine(steps=30, end=0.01)"


@pytest.fixture(scope="module")
def digits() -> Data:
    return load_dataset("digits")


def config(epochs: int, **settings: Any) -> FitConfig:
    return FitConfig(**({"epochs": epochs, "batch_size": BATCH, "device": "cpu", "quiet": True} | settings))


class Faulty(nn.Module):
    """A linear classifier whose training forward returns NaN on the calls in ``nan_calls`` (and on
    every call from ``nan_from`` on), or raises :class:`Killed` on call ``kill_at``."""

    def __init__(
        self, data: Data, *, nan_calls: tuple[int, ...] = (), nan_from: int | None = None, kill_at: int = 0
    ) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner = build_model("linear", data.input_shape, data.output_size)
        self.nan_calls, self.nan_from, self.kill_at, self.calls = nan_calls, nan_from, kill_at, 0

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.inner(x)
        if not self.training:
            return out
        self.calls += 1
        if self.calls == self.kill_at:
            raise Killed(f"killed at training call {self.calls}")
        poisoned = self.calls in self.nan_calls or (self.nan_from is not None and self.calls >= self.nan_from)
        return out * float("nan") if poisoned else out


class Killed(Exception):
    """Stands in for a process killed mid-epoch."""


class Recorder(Callback):
    """Copies the weights at every epoch's end, after every other callback."""

    order = 1000

    def __init__(self) -> None:
        self.weights: list[dict[str, Tensor]] = []

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        self.weights.append(copy.deepcopy(run.model.state_dict()))


class ScaleAfterFirstEpoch(Callback):
    """Sets the LR scale after epoch 1, as a divergence retry of epoch 2 would."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        if metrics["epoch"] == 1:
            run.state.lr_scale = self.scale


def linear(data: Data) -> nn.Module:
    torch.manual_seed(0)
    return build_model("linear", data.input_shape, data.output_size)


def sgd(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def record_lrs(optimizer: torch.optim.Optimizer) -> list[list[float]]:
    """Every update's LRs, one per param group, as the optimizer sees them."""
    seen: list[list[float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: seen.append([group["lr"] for group in opt.param_groups])
    )
    return seen


def same_weights(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def without_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key not in TIME_COLUMNS} for row in rows]


def csv_rows(directory: Path) -> list[dict[str, str]]:
    with (directory / METRICS_CSV).open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


# --- learning rates ---------------------------------------------------------------------------


def test_every_update_uses_base_times_schedule_for_every_group(digits: Data) -> None:
    model = linear(digits)
    weight, bias = model[1].weight, model[1].bias
    optimizer = torch.optim.SGD([{"params": [weight], "lr": 0.1}, {"params": [bias], "lr": 0.02}], lr=1.0)
    seen = record_lrs(optimizer)
    schedule = parse(SCHEDULE)
    result = fit(model, digits, optimizer, SCHEDULE, config=config(3))
    assert result.steps == len(seen) == 3 * STEPS_PER_EPOCH
    assert seen == [[0.1 * schedule(step), 0.02 * schedule(step)] for step in range(result.steps)]
    assert [row["lr"] for row in result.history] == [seen[k][0] for k in (5, 11, 17)]


def test_epoch_interval_holds_the_lr_for_the_whole_epoch(digits: Data) -> None:
    optimizer = sgd(model := linear(digits))
    seen = record_lrs(optimizer)
    schedule = parse("multistep(milestones=[1, 2], gamma=0.5)")
    fit(model, digits, optimizer, schedule, config=config(3, interval="epoch"))
    expected = [[0.1 * schedule(step // STEPS_PER_EPOCH)] for step in range(3 * STEPS_PER_EPOCH)]
    assert seen == expected
    assert [row[0] for row in seen[::STEPS_PER_EPOCH]] == [0.1, 0.05, 0.025]


# --- divergence guard -------------------------------------------------------------------------


def test_divergence_guard_restores_cuts_and_retries(digits: Data) -> None:
    model = Faulty(digits, nan_calls=(8,))  # the 2nd update of epoch 2
    optimizer = sgd(model)
    seen = record_lrs(optimizer)
    guard = DivergenceGuard(cut=0.5, retries=3)
    result = fit(model, digits, optimizer, SCHEDULE, config=config(3), callbacks=[guard])
    assert result.stop_reason == "finished 3 epochs" and len(result.history) == 3
    assert guard.retried == 1 and finite(model)
    schedule = parse(SCHEDULE)
    epoch2 = range(STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH)
    expected = [0.1 * schedule(k) for k in range(2 * STEPS_PER_EPOCH)]  # epoch 1, the failed epoch 2
    expected += [0.1 * (schedule(k) * 0.5) for k in (*epoch2, *range(12, 18))]  # retried 2, then 3
    assert [lrs[0] for lrs in seen] == expected

    # The retry started from the exact state before epoch 2 (weights and momentum): the same as a
    # clean run whose LR scale drops to 0.5 after epoch 1.
    reference = linear(digits)
    fit(reference, digits, sgd(reference), SCHEDULE, config=config(3), callbacks=[ScaleAfterFirstEpoch(0.5)])
    assert same_weights(model.inner.state_dict(), reference.state_dict())


def test_divergence_guard_gives_up_on_the_last_good_weights(digits: Data) -> None:
    model = Faulty(digits, nan_from=STEPS_PER_EPOCH + 2)  # every update from epoch 2 on
    optimizer = sgd(model)
    seen = record_lrs(optimizer)
    result = fit(model, digits, optimizer, SCHEDULE, config=config(4), callbacks=[DivergenceGuard(retries=2)])
    # the last attempt fails on its first update (every update from the first failure on is NaN)
    assert result.stop_reason.startswith("diverged in epoch 2: loss nan at step 1 of the epoch")
    assert result.stop_reason.endswith("gave up after 2 retries")
    assert len(result.history) == 1 and result.steps == STEPS_PER_EPOCH
    first_lrs = [lrs[0] for lrs in seen[STEPS_PER_EPOCH::STEPS_PER_EPOCH]]
    assert first_lrs == [0.1 * parse(SCHEDULE)(STEPS_PER_EPOCH) * scale for scale in (1, 0.5, 0.25)]
    one_epoch = linear(digits)
    fit(one_epoch, digits, sgd(one_epoch), SCHEDULE, config=config(1))
    assert finite(model) and same_weights(model.inner.state_dict(), one_epoch.state_dict())


def test_a_snapshot_shares_no_tensor_with_the_live_run(digits: Data) -> None:
    model = build_model("mlp(widths=[8], batch_norm=true)", digits.input_shape, digits.output_size)
    optimizer = sgd(model)
    fit(model, digits, optimizer, config=config(1))
    run = Run(model, optimizer, parse("constant()"), config(1), [0.1], STEPS_PER_EPOCH)
    snapshot = run.snapshot()
    before = copy.deepcopy(snapshot)
    assert snapshot["model"]._metadata == model.state_dict()._metadata  # what load_state_dict reads
    with torch.no_grad():
        for tensor in [*model.state_dict().values(), *optimizer.state_dict()["state"][0].values()]:
            tensor.add_(1)
    assert same_weights(snapshot["model"], before["model"])
    assert same_weights(snapshot["optimizer"]["state"][0], before["optimizer"]["state"][0])
    run.restore(snapshot)
    assert same_weights(model.state_dict(), before["model"])
    optimizer.state_dict()["state"][0]["momentum_buffer"].add_(1)  # the restored state is a copy too
    assert same_weights(snapshot["optimizer"]["state"][0], before["optimizer"]["state"][0])


# --- plateau and early stopping inside fit --------------------------------------------------------


def test_plateau_waits_out_the_warmup_then_multiplies_the_schedule(digits: Data) -> None:
    optimizer = sgd(model := linear(digits), lr=1e-6)  # so small that val_loss stays flat
    seen = record_lrs(optimizer)
    schedule = parse("warmup(steps=12, start=0.1) >> constant()")  # a 2-epoch warmup
    plateau = ReduceLROnPlateau(factor=0.5, patience=1, min_delta=1e-3)
    fit(model, digits, optimizer, schedule, config=config(5), callbacks=[plateau])
    assert plateau.grace_epochs == 2 and plateau.cuts == 3  # after epochs 3, 4 and 5
    scales = [1.0, 1.0, 1.0, 0.5, 0.25]
    expected = [1e-6 * (schedule(k) * scales[k // STEPS_PER_EPOCH]) for k in range(5 * STEPS_PER_EPOCH)]
    assert [lrs[0] for lrs in seen] == expected


def test_early_stopping_stops_with_the_reason_and_restores_the_best_weights(digits: Data) -> None:
    recorder = Recorder()
    stopper = EarlyStopping(min_delta=10.0, patience=2)  # only the first epoch can improve
    result = fit(
        model := linear(digits),
        digits,
        sgd(model),
        SCHEDULE,
        config=config(10),
        callbacks=[stopper, recorder],
    )
    assert result.stop_reason.startswith("early-stopped at epoch 3: val_loss did not improve for 2 epochs")
    assert "at epoch 1)" in result.stop_reason and len(result.history) == 3
    assert same_weights(model.state_dict(), recorder.weights[0])
    assert not same_weights(model.state_dict(), recorder.weights[2])


# --- exact resume -------------------------------------------------------------------------------


def mlp_run(data: Data, directory: Path, epochs: int, *, resume: bool = False) -> tuple[nn.Module, FitResult]:
    """An MLP with dropout (so the RNG matters) and momentum, with every checkpointed callback."""
    torch.manual_seed(0)
    model = build_model("mlp(widths=[32], dropout=0.2)", data.input_shape, data.output_size)
    optimizer = build_optimizer(model, "sgd(momentum=0.9)", lr=0.1)  # two groups: decay and none
    callbacks = [
        DivergenceGuard(),
        ReduceLROnPlateau(patience=1, factor=0.5),
        EarlyStopping(patience=50),
        Checkpoint(directory),
        MetricsCsv(directory),
    ]
    result = fit(
        model,
        data,
        optimizer,
        SCHEDULE,
        config=config(epochs),
        callbacks=callbacks,
        run_dir=directory,
        resume=resume,
    )
    return model, result


def test_resumed_run_equals_the_straight_run_bitwise(digits: Data, tmp_path: Path) -> None:
    straight_model, straight = mlp_run(digits, tmp_path / "straight", 6)
    mlp_run(digits, tmp_path / "resumed", 3)
    torch.manual_seed(12345)  # a new process would start from other RNG states
    random.seed(12345)
    resumed_model, resumed = mlp_run(digits, tmp_path / "resumed", 6, resume=True)
    assert same_weights(resumed_model.state_dict(), straight_model.state_dict())
    assert resumed.steps == straight.steps and resumed.stop_reason == straight.stop_reason
    assert without_time(list(resumed.history)) == without_time(list(straight.history))
    resumed_rows, straight_rows = csv_rows(tmp_path / "resumed"), csv_rows(tmp_path / "straight")
    assert len(straight_rows) == 6
    assert without_time(resumed_rows) == without_time(straight_rows)


def test_a_killed_run_keeps_every_finished_epoch_and_resumes(digits: Data, tmp_path: Path) -> None:
    def run(directory: Path, epochs: int, kill_at: int = 0, resume: bool = False) -> FitResult:
        model = Faulty(digits, kill_at=kill_at)
        callbacks = [Checkpoint(directory), MetricsCsv(directory)]
        return fit(
            model,
            digits,
            sgd(model),
            SCHEDULE,
            config=config(epochs),
            callbacks=callbacks,
            run_dir=directory,
            resume=resume,
        )

    with pytest.raises(Killed):
        run(tmp_path / "killed", 4, kill_at=2 * STEPS_PER_EPOCH + 3)  # mid-epoch 3
    rows = csv_rows(tmp_path / "killed")
    assert [row["epoch"] for row in rows] == ["1", "2"]
    saved = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    assert saved["state"]["epoch"] == 2
    assert [row["epoch"] for row in saved["state"]["history"]] == [1.0, 2.0]

    run(tmp_path / "killed", 4, resume=True)
    run(tmp_path / "straight", 4)
    assert without_time(csv_rows(tmp_path / "killed")) == without_time(csv_rows(tmp_path / "straight"))


def test_resuming_with_another_schedule_is_an_error(digits: Data, tmp_path: Path) -> None:
    fit(
        model := linear(digits),
        digits,
        sgd(model),
        SCHEDULE,
        config=config(1),
        callbacks=[Checkpoint(tmp_path)],
    )
    with pytest.raises(LrlabError, match=r"was made with schedule .*resume with the original schedule"):
        fit(model, digits, sgd(model), "cosine(steps=30)", config=config(2), run_dir=tmp_path, resume=True)


def test_checkpoint_files_load_with_weights_only(digits: Data, tmp_path: Path) -> None:
    callbacks = [DivergenceGuard(), EarlyStopping(), Checkpoint(tmp_path)]
    result = fit(model := linear(digits), digits, sgd(model), SCHEDULE, config=config(3), callbacks=callbacks)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "state", "schedule", "callbacks", "rng"} <= set(saved)
    assert saved["schedule"] == str(parse(SCHEDULE)) and saved["state"]["epoch"] == 3
    assert set(saved["callbacks"]) == {"DivergenceGuard", "EarlyStopping", "Checkpoint"}
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    best_row = min(result.history, key=lambda row: row["val_loss"])
    assert best["epoch"] == best_row["epoch"] and best["val_loss"] == best_row["val_loss"]
    assert set(best["model"]) == set(saved["model"])


# --- tasks and settings ---------------------------------------------------------------------------


def test_regression_reports_val_mse() -> None:
    data = load_dataset("synthetic-regression(n=500, features=5)")
    torch.manual_seed(0)
    model = build_model("linear", data.input_shape, data.output_size)
    result = fit(model, data, torch.optim.SGD(model.parameters(), lr=0.05), config=config(5, batch_size=32))
    first, last = result.history[0], result.final
    assert "val_mse" in last and "val_acc" not in last
    assert last["val_mse"] == last["val_loss"] and last["val_mse"] < first["val_mse"] < 100


@pytest.mark.parametrize("clip", [None, 0.05])
def test_grad_clip_bounds_the_gradient_norm(digits: Data, clip: float | None) -> None:
    optimizer = sgd(model := linear(digits))
    norms: list[float] = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: norms.append(
            float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])))
        )
    )
    fit(model, digits, optimizer, SCHEDULE, config=config(2, grad_clip=clip))
    assert len(norms) == 2 * STEPS_PER_EPOCH
    if clip is None:
        assert max(norms) > 0.05  # so clipping at 0.05 has work to do
    else:
        assert max(norms) <= clip * (1 + 1e-5)


def test_resume_without_a_run_directory_is_an_error(digits: Data) -> None:
    with pytest.raises(LrlabError, match="resume=True needs the run directory"):
        fit(model := linear(digits), digits, sgd(model), config=config(1), resume=True)


# --- TensorBoard ----------------------------------------------------------------------------------


def test_tensorboard_logger_writes_every_epoch_once_across_a_resume(digits: Data, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install lrlab[tensorboard])")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def run(epochs: int, resume: bool) -> FitResult:
        callbacks = [TensorBoardLogger(tmp_path), Checkpoint(tmp_path, every=2)]
        model = linear(digits)
        return fit(
            model,
            digits,
            sgd(model),
            SCHEDULE,
            config=config(epochs),
            callbacks=callbacks,
            run_dir=tmp_path,
            resume=resume,
        )

    run(3, resume=False)  # epoch 3 is logged but not checkpointed: the resumed run redoes it
    result = run(4, resume=True)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    for name in ("val_loss", "val_acc", "train_loss", "lr"):
        scalars = events.Scalars(name)
        assert [event.step for event in scalars] == [1, 2, 3, 4]
        assert [event.value for event in scalars] == pytest.approx([row[name] for row in result.history])


def test_tensorboard_logger_without_tensorboard_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # makes `import tensorboard` fail
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(LrlabError, match=r"pip install lrlab\[tensorboard\]"):
        TensorBoardLogger(tmp_path)


def test_a_ramp_multiplies_the_schedule_per_step(digits: Data) -> None:
    model = linear(digits)
    optimizer = sgd(model)
    ramp = parse("warmup(steps=10, start=0.25)")
    seen = record_lrs(optimizer)
    fit(model, digits, optimizer, "cosine(steps=40)", config=config(2, batch_size=64, ramp=ramp))
    schedule = parse("cosine(steps=40)")
    expected = [0.1 * schedule.at(step) * ramp.at(step) for step in range(len(seen))]
    assert [lrs[0] for lrs in seen] == pytest.approx(expected)


def test_compile_trains_as_eager_does(digits: Data) -> None:
    runs = []
    for compile in (False, True):
        torch.manual_seed(0)
        model = linear(digits)
        result = fit(model, digits, sgd(model), config=config(2, batch_size=256, compile=compile))
        runs.append(result.final["val_loss"])
    assert runs[1] == pytest.approx(runs[0], rel=1e-4)
