"""The sweep: the ladder, the defaults by optimizer, the run on ``fit``'s batches, the divergence
stop, gradient accumulation, the validation mode, and bit-for-bit restoration of the model, its
buffers, the optimizer and the random generators — after a finished sweep, a divergence and an
exception."""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from lrlab.data import Batches, Data, load_dataset
from lrlab.errors import LrlabError
from lrlab.finder.hyperparameter import set_param
from lrlab.finder.sweep import Sweep, SweepConfig, default_sweep, run_sweep
from lrlab.optim import build_optimizer

CPU = SweepConfig(batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def data() -> Data:
    return load_dataset("synthetic-classification(n=400, features=8, classes=3)", val_fraction=0.2)


class Net(nn.Module):
    """Linear → BatchNorm → ReLU → Dropout → Linear, counting and recording its inputs; raises
    on call ``fail_at`` when set."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3)
        )
        self.calls, self.fail_at, self.seen = 0, fail_at, []  # type: list[Tensor]

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        if self.training:
            self.seen.append(x.detach().clone())
        out: Tensor = self.body(x)
        return out


def trained(data: Data, spec: str, fail_at: int | None = None) -> tuple[Net, torch.optim.Optimizer]:
    """A model and optimizer with state: three updates already taken, dropout's mode mixed."""
    torch.manual_seed(0)
    model = Net(fail_at)
    optimizer = build_optimizer(model, spec, lr=0.01)
    for start in range(0, 96, 32):
        loss = nn.functional.cross_entropy(
            model(data.x_train[start : start + 32]), data.y_train[start : start + 32]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.body[3].eval()  # a submodule in eval mode: the restore keeps every module's mode
    model.calls, model.seen = 0, []
    return model, optimizer


def everything(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "model": copy.deepcopy(model.state_dict()),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "modes": [m.training for m in model.modules()],
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
    }


def assert_identical(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{index}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    else:
        assert a == b, where


def scramble() -> None:
    """Seed every generator somewhere a sweep would not leave it."""
    random.seed(12345)
    np.random.seed(54321)
    torch.manual_seed(999)


# --- restoration ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["sgd(momentum=0.9)", "adam()", "adamw(weight_decay=0.01)"])
@pytest.mark.parametrize(
    "case",
    ["finished", "diverged", "raised"],
)
def test_everything_is_restored_bit_for_bit(data: Data, spec: str, case: str) -> None:
    model, optimizer = trained(data, spec, fail_at=5 if case == "raised" else None)
    scramble()
    before = everything(model, optimizer)
    ladder = Sweep(1e-4, 1e-2, 12) if case != "diverged" else Sweep(1.0, 1e6, 40)
    if case == "raised":
        with pytest.raises(RuntimeError, match="boom"):
            run_sweep(model, data, optimizer, ladder, config=CPU)
    else:
        trace = run_sweep(model, data, optimizer, ladder, config=CPU)
        assert trace.stop_reason.startswith("diverged" if case == "diverged" else "finished 12 steps")
        assert trace.stop.kind == case  # the kind the divergence rule decided, with its words
    assert_identical(before, everything(model, optimizer))


def test_the_restored_model_trains_on_exactly_as_before(data: Data) -> None:
    def next_loss(model: nn.Module, optimizer: torch.optim.Optimizer) -> float:
        torch.manual_seed(7)
        model.train()
        loss = nn.functional.cross_entropy(model(data.x_train[:32]), data.y_train[:32])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            return float(nn.functional.cross_entropy(model(data.x_train[:32]), data.y_train[:32]))

    untouched = next_loss(*trained(data, "sgd(momentum=0.9)"))
    model, optimizer = trained(data, "sgd(momentum=0.9)")
    run_sweep(model, data, optimizer, Sweep(1e-3, 10.0, 30), config=CPU)
    assert next_loss(model, optimizer) == untouched


# --- the run ----------------------------------------------------------------------------------


def test_the_sweep_sees_fits_batches_and_sets_each_rung(data: Data) -> None:
    model, optimizer = trained(data, "sgd()")
    config = SweepConfig(batch_size=32, seed=3, device="cpu")
    trace = run_sweep(model, data, optimizer, Sweep(1e-4, 1e-2, 15), config=config)
    expected = [x for x, _ in Batches(data.x_train, data.y_train, 32, seed=3).epoch(0)]
    expected += [x for x, _ in Batches(data.x_train, data.y_train, 32, seed=3).epoch(1)]
    assert len(model.seen) == 15
    for seen, batch in zip(model.seen, expected, strict=False):
        assert torch.equal(seen, batch)  # 10 batches per epoch, then the next epoch's order
    assert trace.values == pytest.approx(Sweep(1e-4, 1e-2, 15).values())
    assert len(trace.losses) == len(trace.smoothed) == 15 and all(map(math.isfinite, trace.smoothed))


def test_divergence_stops_the_sweep_and_says_where(data: Data) -> None:
    model, optimizer = trained(data, "sgd(momentum=0.9)")
    trace = run_sweep(model, data, optimizer, Sweep(1e-3, 1e8, 100), config=CPU)
    assert trace.stop_reason.startswith("diverged at step ") and "lr=" in trace.stop_reason
    assert len(trace.values) < 100 and len(trace.losses) == len(trace.smoothed) == len(trace.values)
    if not math.isfinite(trace.losses[-1]):
        assert math.isnan(trace.smoothed[-1])


def test_accumulation_uses_that_many_batches_per_update(data: Data) -> None:
    model, optimizer = trained(data, "sgd()")
    config = SweepConfig(batch_size=32, device="cpu", accumulation=3)
    run_sweep(model, data, optimizer, Sweep(1e-4, 1e-2, 5), config=config)
    assert model.calls == 15


def test_the_validation_mode_records_the_validation_loss(data: Data) -> None:
    torch.manual_seed(0)
    model = nn.Linear(8, 3)  # no batch norm: its statistics would move with each training batch
    optimizer = build_optimizer(model, "sgd()", lr=0.1)
    config = SweepConfig(batch_size=32, device="cpu", validation=True)
    trace = run_sweep(model, data, optimizer, Sweep(1e-9, 2e-9, 3), config=config)
    with torch.no_grad():
        val = float(nn.functional.cross_entropy(model(data.x_val), data.y_val))  # type: ignore[arg-type]
    assert trace.losses == pytest.approx([val] * 3, rel=1e-6)  # LRs too small to move it


def test_weight_decay_and_momentum_sweeps_write_their_setting(data: Data) -> None:
    model, optimizer = trained(data, "adam()")
    trace = run_sweep(model, data, optimizer, Sweep(0.5, 0.9, 5, "linear"), param="momentum", config=CPU)
    assert trace.param == "momentum" and trace.values == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)  # restored
    with pytest.raises(LrlabError, match="param must be 'lr', 'weight_decay' or 'momentum'"):
        run_sweep(model, data, optimizer, Sweep(0.5, 0.9, 5), param="beta", config=CPU)  # type: ignore[arg-type]
    adagrad = torch.optim.Adagrad(model.parameters())
    with pytest.raises(LrlabError, match="a setting Adagrad has"):
        run_sweep(model, data, adagrad, Sweep(0.5, 0.9, 5), param="momentum", config=CPU)


def test_set_param_keeps_group_ratios_and_exempt_groups() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    optimizer = build_optimizer(model, "sgd(weight_decay=0.1)", lr=0.1, lr_multipliers={"1": 10.0})
    ratios = [group["lr"] / 0.1 for group in optimizer.param_groups]
    set_param(optimizer, "lr", 0.5, ratios)
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx([0.5, 0.5, 5.0, 5.0])
    set_param(optimizer, "weight_decay", 0.3, ratios)
    decays = {all(p.ndim <= 1 for p in g["params"]): g["weight_decay"] for g in optimizer.param_groups}
    assert decays == {True: 0.0, False: 0.3}


# --- the ladder -------------------------------------------------------------------------------


def test_ladders_include_both_ends() -> None:
    assert Sweep(1e-4, 1.0, 5).values() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert Sweep(0.0, 1.0, 5, "linear").values() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Sweep(1.0, 0.1), "end must be greater than start"),
        (lambda: Sweep(0.0, 1.0), "start must be a finite number > 0"),
        (lambda: Sweep(1e-3, math.inf), "end must be a finite number > 0"),
        (lambda: Sweep(1e-3, 1.0, 1), "steps must be an integer >= 2"),
        (lambda: Sweep(1e-3, 1.0, mode="log"), "mode must be 'exp' or 'linear'"),  # type: ignore[arg-type]
        (lambda: SweepConfig(divergence=1.0), "divergence must be a number > 1"),
        (lambda: SweepConfig(accumulation=0), "accumulation must be an integer >= 1"),
    ],
)
def test_bad_settings_name_the_parameter(build: Callable[[], object], match: str) -> None:
    with pytest.raises(LrlabError, match=match):
        build()


def test_default_ranges_follow_the_optimizer_family() -> None:
    params = [nn.Parameter(torch.zeros(2, 2))]
    sgd = default_sweep(torch.optim.SGD(params, lr=0.1))
    adam = default_sweep(torch.optim.AdamW(params))
    assert (sgd.start, sgd.end) == (1e-5, 10.0) and (adam.start, adam.end) == (1e-6, 1.0)
    momentum = default_sweep(torch.optim.SGD(params, lr=0.1), "momentum")
    assert momentum.mode == "linear" and 0 < momentum.start < momentum.end < 1


def test_a_tensor_lr_is_swept_in_place_and_put_back(data: Data) -> None:
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    lr = torch.tensor(0.01)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    seen: list[tuple[bool, float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, *_: seen.append((opt.param_groups[0]["lr"] is lr, float(opt.param_groups[0]["lr"])))
    )
    for _ in range(2):  # the second sweep reads the same base LR
        run_sweep(model, data, optimizer, Sweep(1e-3, 1e-1, 3), config=CPU)
    assert [written for written, _ in seen] == [True] * 3 + [False] * 3  # a restore copies the tensor
    assert [value for _, value in seen] == pytest.approx([1e-3, 1e-2, 1e-1] * 2)
    assert float(lr) == float(optimizer.defaults["lr"]) == float(optimizer.param_groups[0]["lr"])
    assert float(lr) == pytest.approx(0.01)
