"""Schedule-free and LR-free optimizers in ``fit`` and the range test: evaluation, callbacks and
checkpoints at the averaged weights, batch-norm recalibration there, exact resume, the effective
LR in the metrics, and what the range test does with them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from lrlab.data import Data, load_dataset
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.finder import Sweep, SweepConfig, find_lr, range_test
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.train import Callback, Checkpoint, DivergenceGuard, EarlyStopping, FitConfig, MetricsCsv, Run, fit
from lrlab.train.averaged import RECALIBRATION_BATCHES, Modes, batch_norms, lr_metrics, switches
from lrlab.train.feed import bind

pytest.importorskip("schedulefree")
pytest.importorskip("prodigyopt")

BATCH = 256  # digits: 1,437 training samples → 6 steps per epoch
STEPS_PER_EPOCH = 6
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> Data:
    return load_dataset("digits")


def config(epochs: int, **settings: Any) -> FitConfig:
    return FitConfig(**({"epochs": epochs, "batch_size": BATCH, "device": "cpu", "quiet": True} | settings))


def mlp(data: Data, spec: str = "mlp(widths=[32])") -> nn.Module:
    torch.manual_seed(0)
    return build_model(spec, data.input_shape, data.output_size)


def same_weights(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def without_time(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k not in ("time_s", "samples_per_s")} for row in rows]


class Recorder(Callback):
    """The weights and the optimizer's mode each callback pass sees."""

    order = 1000

    def __init__(self) -> None:
        self.weights: list[dict[str, Tensor]] = []
        self.train_modes: list[bool] = []

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        self.weights.append(copy.deepcopy(run.model.state_dict()))
        self.train_modes.append(bool(run.optimizer.param_groups[0]["train_mode"]))


# --- every optimizer trains -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "lr"),
    [
        ("schedulefree_sgd(warmup_steps=5)", 1.0),
        ("schedulefree_adamw(warmup_steps=5)", 0.01),
        ("prodigy()", 1.0),
    ],
)
def test_each_optimizer_trains_in_fit(digits: Data, spec: str, lr: float) -> None:
    model = mlp(digits)
    result = fit(model, digits, build_optimizer(model, spec, lr=lr), config=config(5))
    first, last = result.history[0], result.final
    assert last["val_acc"] > 0.8 and last["val_loss"] < first["val_loss"]  # chance: 0.1
    assert last["train_loss"] < first["train_loss"]


def test_the_protocol_is_train_and_eval_methods(digits: Data) -> None:
    model = mlp(digits)
    assert switches(build_optimizer(model, "schedulefree_adamw()", lr=0.01))
    assert not switches(build_optimizer(model, "prodigy()", lr=1.0))
    assert not switches(build_optimizer(model, "adamw()", lr=0.01))


# --- evaluation and callbacks at the averaged weights ---------------------------------------------


def by_hand(data: Data, epochs: int) -> tuple[list[float], list[float], list[dict[str, Tensor]]]:
    """Schedule-free AdamW trained without ``fit`` on the same batches: per epoch, the validation
    loss at the averaged weights x and at the gradient point y, and the weights at x."""
    model = mlp(data)
    optimizer = build_optimizer(model, "schedulefree_adamw(warmup_steps=3)", lr=0.02)
    workload = bind(data, config(epochs), CPU, World())
    assert workload.scores is not None
    at_x, at_y, weights = [], [], []
    for epoch in range(epochs):
        model.train()
        optimizer.train()
        for batch, _ in workload.batches(epoch):
            loss = workload.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
        at_y.append(workload.scores(model)["loss"])
        optimizer.eval()
        at_x.append(workload.scores(model)["loss"])
        weights.append(copy.deepcopy(model.state_dict()))
    return at_x, at_y, weights


def test_evaluation_callbacks_and_checkpoints_see_the_averaged_weights(digits: Data, tmp_path: Path) -> None:
    at_x, at_y, weights = by_hand(digits, 2)
    model = mlp(digits)
    optimizer = build_optimizer(model, "schedulefree_adamw(warmup_steps=3)", lr=0.02)
    recorder = Recorder()
    callbacks = [EarlyStopping(patience=5), Checkpoint(tmp_path), recorder]
    result = fit(model, digits, optimizer, config=config(2), callbacks=callbacks)
    recorded = [row["val_loss"] for row in result.history]
    assert recorded == at_x  # evaluated at x, bit for bit ...
    assert all(abs(x - y) > 0.01 for x, y in zip(recorded, at_y, strict=True))  # ... not at y
    assert recorder.train_modes == [False, False]
    assert all(same_weights(seen, x) for seen, x in zip(recorder.weights, weights, strict=True))
    best = 1 + min(range(2), key=lambda i: at_x[i])
    saved_best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert saved_best["epoch"] == best and same_weights(saved_best["model"], weights[best - 1])
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert same_weights(saved["model"], weights[-1])
    assert all(group["train_mode"] is False for group in saved["optimizer"]["param_groups"])
    assert same_weights(model.state_dict(), weights[best - 1])  # early stopping restored x


def test_the_fit_ends_in_eval_mode_when_no_epoch_runs(digits: Data, tmp_path: Path) -> None:
    model = mlp(digits)
    optimizer = build_optimizer(model, "schedulefree_sgd()", lr=1.0)
    fit(model, digits, optimizer, config=config(1), callbacks=[Checkpoint(tmp_path)])
    optimizer.train()  # a caller that switched it back
    fit(model, digits, optimizer, config=config(1), run_dir=tmp_path, resume=True)  # nothing left
    assert optimizer.param_groups[0]["train_mode"] is False


# --- batch norm -----------------------------------------------------------------------------------


def test_batch_norm_statistics_are_recomputed_at_the_averaged_weights(digits: Data) -> None:
    model = mlp(digits, "mlp(widths=[32], batch_norm=true)")
    optimizer = build_optimizer(model, "schedulefree_sgd(warmup_steps=3)", lr=1.0)
    result = fit(model, digits, optimizer, config=config(2))
    [norm] = batch_norms(model)
    assert STEPS_PER_EPOCH < RECALIBRATION_BATCHES
    # training alone would have counted 12 batches with momentum 0.1; the recalibration reset the
    # statistics and averaged the last epoch's 6 batches, at x
    assert int(norm.num_batches_tracked) == STEPS_PER_EPOCH and norm.momentum == 0.1
    reference = copy.deepcopy(model)
    [again] = batch_norms(reference)
    again.reset_running_stats()
    again.momentum = None
    workload = bind(digits, config(2), CPU, World())
    reference.train()
    with torch.no_grad():
        for batch, _ in workload.batches(1):
            workload.loss(reference, batch)
    assert norm.running_mean is not None and again.running_mean is not None
    assert torch.allclose(norm.running_mean, again.running_mean, rtol=1e-6, atol=1e-7)
    assert torch.allclose(norm.running_var, again.running_var, rtol=1e-6, atol=1e-7)
    assert workload.scores is not None
    assert result.final["val_loss"] == workload.scores(model)["loss"]


def test_no_recalibration_and_no_kept_batches_without_modes_or_batch_norm(digits: Data) -> None:
    with_norm = mlp(digits, "mlp(widths=[32], batch_norm=true)")
    plain = Modes(with_norm, build_optimizer(with_norm, "adamw()", lr=0.01), lambda m, b: m(b), World())
    assert plain.norms == []
    without = mlp(digits)
    averaged = Modes(
        without, build_optimizer(without, "schedulefree_sgd()", lr=1.0), lambda m, b: m(b), World()
    )
    batches = iter([(torch.zeros(1), 1.0)])
    assert averaged.remember(batches) is batches


# --- exact resume ---------------------------------------------------------------------------------


class Killed(Exception):
    """Stands in for a process killed mid-epoch."""


class Mortal(nn.Module):
    """An MLP with batch norm and dropout whose training forward raises on call ``kill_at``."""

    def __init__(self, data: Data, kill_at: int = 0) -> None:
        super().__init__()
        self.inner = mlp(data, "mlp(widths=[32], dropout=0.2, batch_norm=true)")
        self.kill_at, self.calls = kill_at, 0

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.kill_at:
                raise Killed(f"killed at training call {self.calls}")
        out: Tensor = self.inner(x)
        return out


def resumable(data: Data, directory: Path, *, kill_at: int = 0, resume: bool = False) -> tuple[Mortal, Any]:
    model = Mortal(data, kill_at)
    optimizer = build_optimizer(model, "schedulefree_adamw(warmup_steps=4, weight_decay=0.01)", lr=0.02)
    callbacks = [DivergenceGuard(), EarlyStopping(patience=50), Checkpoint(directory), MetricsCsv(directory)]
    result = fit(
        model, data, optimizer, config=config(4), callbacks=callbacks, run_dir=directory, resume=resume
    )
    return model, (result, optimizer)


def test_a_killed_and_resumed_schedule_free_run_ends_bitwise_as_a_straight_one(
    digits: Data, tmp_path: Path
) -> None:
    straight_model, (straight, straight_optimizer) = resumable(digits, tmp_path / "straight")
    per_epoch = 2 * STEPS_PER_EPOCH  # training forwards + recalibration forwards
    with pytest.raises(Killed):
        resumable(digits, tmp_path / "killed", kill_at=2 * per_epoch + 3)  # mid-epoch 3
    torch.manual_seed(12345)  # a new process starts from other RNG states
    resumed_model, (resumed, resumed_optimizer) = resumable(digits, tmp_path / "killed", resume=True)
    assert same_weights(resumed_model.state_dict(), straight_model.state_dict())
    assert without_time(list(resumed.history)) == without_time(list(straight.history))
    a, b = resumed_optimizer.state_dict(), straight_optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for key in a["state"]:
        assert all(torch.equal(a["state"][key][name], b["state"][key][name]) for name in a["state"][key])


# --- the effective LR in the metrics --------------------------------------------------------------


def test_prodigy_records_d_and_its_effective_lr(digits: Data) -> None:
    model = mlp(digits)
    optimizer = build_optimizer(model, "prodigy()", lr=1.0)
    result = fit(model, digits, optimizer, "cosine(steps=18, end=0.1)", config=config(3))
    for row in result.history:
        assert row["effective_lr"] == row["d"] * row["lr"]
    ds = [row["d"] for row in result.history]
    assert ds[0] > 10 * 1e-6 and ds == sorted(ds)  # d grew from d0 = 1e-6 and never shrinks
    assert ds[-1] == optimizer.param_groups[0]["d"]


def test_schedule_free_records_the_lr_of_its_own_warmup(digits: Data) -> None:
    model = mlp(digits)
    optimizer = build_optimizer(model, "schedulefree_sgd(warmup_steps=12)", lr=1.0)
    result = fit(model, digits, optimizer, config=config(3))
    assert [row["lr"] for row in result.history] == [1.0, 1.0, 1.0]
    assert [row["effective_lr"] for row in result.history] == [6 / 12, 12 / 12, 1.0]
    assert lr_metrics(torch.optim.SGD(model.parameters(), lr=0.1)) == {}


# --- the range test -------------------------------------------------------------------------------


def test_an_lr_range_test_of_prodigy_is_refused_with_the_reason(digits: Data) -> None:
    model = mlp(digits)
    optimizer = build_optimizer(model, "prodigy()", lr=1.0)
    with pytest.raises(LrlabError) as error:
        find_lr(model, digits, optimizer, config=SweepConfig(device="cpu"))
    message = str(error.value)
    assert "estimates its LR scale d itself; keep lr=1" in message and "d_coef" in message
    assert "\n" not in message
    trace = range_test(model, digits, optimizer, "weight_decay", sweep=Sweep(1e-5, 0.1, steps=8))
    assert len(trace.values) == 8  # other settings can still be swept


def test_a_schedule_free_sweep_runs_in_train_mode_without_its_warmup(digits: Data) -> None:
    def losses(warmup: int) -> tuple[float, ...]:
        model = mlp(digits)
        optimizer = build_optimizer(model, f"schedulefree_adamw(warmup_steps={warmup})", lr=0.01)
        sweep, settings = Sweep(1e-4, 1.0, steps=12), SweepConfig(device="cpu", batch_size=BATCH)
        result = find_lr(model, digits, optimizer, sweep=sweep, config=settings)
        assert optimizer.param_groups[0]["warmup_steps"] == warmup  # put back
        return result.losses

    assert losses(50) == losses(0)  # every update at the ladder's LR, not ramped by its warmup
    model = mlp(digits)
    optimizer = build_optimizer(model, "schedulefree_adamw()", lr=0.01)
    default = find_lr(model, digits, optimizer, config=SweepConfig(device="cpu", batch_size=BATCH))
    assert default.values[0] == pytest.approx(1e-6) and default.values[-1] <= 1.0  # the adaptive ladder


def test_a_schedule_free_sweep_restores_weights_and_optimizer_bit_for_bit(digits: Data) -> None:
    model = mlp(digits)
    optimizer = build_optimizer(model, "schedulefree_adamw(warmup_steps=5)", lr=0.01)
    fit(model, digits, optimizer, config=config(1))  # trained: the model at x, the optimizer in eval mode
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    sweep, settings = Sweep(1e-4, 1.0, steps=12), SweepConfig(device="cpu", batch_size=BATCH)
    find_lr(model, digits, optimizer, sweep=sweep, config=settings)
    assert same_weights(model.state_dict(), weights)
    after = optimizer.state_dict()
    assert after["param_groups"] == state["param_groups"]  # train_mode, warmup_steps, k, weight_sum …
    for key, tensors in after["state"].items():
        assert all(torch.equal(tensors[name], state["state"][key][name]) for name in tensors)
