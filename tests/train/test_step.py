"""One training step (``lrlab.train.step``), shared by ``fit`` and the range test: micro-batches
and their weights, and the LRs written before an update, a tensor LR included."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrlab.data import load_dataset
from lrlab.schedules import parse
from lrlab.train import FitConfig, fit
from lrlab.train.step import update

SCHEDULE = "warmup(steps=4, start=0.5) >> constant()"


def test_an_update_averages_its_micro_batches_by_their_weights() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    batches = [torch.randn(4, 3), torch.randn(4, 3)]
    weights = [1.5, 0.5]

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        return model(batch).pow(2).mean()

    expected = torch.autograd.grad(
        sum(w * loss_of(b) for b, w in zip(batches, weights, strict=True)) / 2, model.weight
    )[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    losses = update(
        model,
        optimizer,
        iter(zip(batches, weights, strict=True)),
        loss_of=loss_of,
        grad_clip=None,
        accumulation=2,
    )
    assert model.weight.grad is not None
    torch.testing.assert_close(model.weight.grad, expected)
    with torch.no_grad():  # lr=0: the weights did not move
        assert [float(loss) for loss in losses] == [float(loss_of(b)) for b in batches]


def test_fit_writes_a_tensor_lr_in_place_and_keeps_its_base() -> None:
    data = load_dataset("synthetic-classification(n=200, features=4, classes=2)", val_fraction=0.2)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    lr = torch.tensor(0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    seen: list[tuple[bool, float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, *_: seen.append((opt.param_groups[0]["lr"] is lr, float(opt.param_groups[0]["lr"])))
    )
    config = FitConfig(epochs=1, batch_size=40, device="cpu", quiet=True)
    for _ in range(2):  # a second fit starts from the same base LR
        fit(model, data, optimizer, SCHEDULE, config=config)
    assert all(written for written, _ in seen)
    expected = [0.1 * parse(SCHEDULE)(step) for step in range(4)]
    assert [value for _, value in seen] == pytest.approx(expected * 2)
    assert float(optimizer.param_groups[0]["initial_lr"]) == pytest.approx(0.1)
