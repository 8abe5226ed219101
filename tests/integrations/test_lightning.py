"""The Lightning callback against the real Lightning: a small MLP (with batch norm) on synthetic
data, through ``Trainer.fit`` on the CPU."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

from lrlab import LrlabError, ScheduledLR  # noqa: E402
from lrlab.finder import Sweep  # noqa: E402
from lrlab.integrations.lightning import LRRangeTest  # noqa: E402

SWEEP = Sweep(1e-4, 10.0, steps=40)


def synthetic(samples: int = 512, seed: int = 0) -> TensorDataset:
    """Three classes, linearly separable up to a little noise, in 8 features."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 8, generator=generator)
    w = torch.randn(8, 3, generator=generator)
    y = (x @ w + 0.1 * torch.randn(samples, 3, generator=generator)).argmax(dim=1)
    return TensorDataset(x, y)


class Classifier(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.01, schedule: str | None = None, manual: bool = False) -> None:
        super().__init__()
        self.lr, self.schedule = lr, schedule
        self.automatic_optimization = not manual
        self.net = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)  # silenced during the range test, logged in training
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        if self.schedule is None:
            return optimizer
        scheduler = ScheduledLR(optimizer, self.schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(synthetic(), batch_size=32, shuffle=True)


class Watched(LRRangeTest):
    """Captures the states right before and right after the range test."""

    def range_test(self, trainer: Any, pl_module: Any) -> Any:
        optimizer = trainer.optimizers[0]
        # The fit loop's own data setup draws from torch's generator (as it does in any fit); done
        # here first, the callback's call returns at once and the capture brackets the sweep.
        trainer.fit_loop.setup_data()
        self.before = _states(pl_module, optimizer)
        result = super().range_test(trainer, pl_module)
        self.after = _states(pl_module, optimizer)
        return result


def _states(module: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "model": {k: v.clone() for k, v in module.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "training": [m.training for m in module.modules()],
        "grads": [p.grad for p in module.parameters()],
        "rng": torch.get_rng_state(),
    }


def _trainer(callbacks: list[Any], max_epochs: int = 1) -> Any:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


def _same_tensors(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_callback_sets_the_suggested_lr_and_restores_everything_else(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = Classifier(lr=0.01)
    plot = tmp_path / "figures" / "lr.png"
    callback = Watched(sweep=SWEEP, plot=plot)
    _trainer([callback]).fit(module)

    before, after = callback.before, callback.after
    assert _same_tensors(before["model"], after["model"])  # weights and batch-norm buffers
    assert "net.1.running_mean" in after["model"] and "net.1.num_batches_tracked" in after["model"]
    assert before["training"] == after["training"]
    assert before["grads"] == after["grads"] == [None] * len(after["grads"])
    assert torch.equal(before["rng"], after["rng"])
    groups_before, groups_after = before["optimizer"]["param_groups"], after["optimizer"]["param_groups"]
    assert before["optimizer"]["state"] == after["optimizer"]["state"] == {}
    assert [{k: v for k, v in g.items() if k != "lr"} for g in groups_before] == [
        {k: v for k, v in g.items() if k != "lr"} for g in groups_after
    ]

    result = callback.result
    assert result is not None and len(result.lrs) >= 5
    assert result.suggested_lr is not None, result.suggestion.reason
    assert callback.lr == result.suggested_lr
    assert module.lr == callback.lr  # the module's attribute, as Lightning's tuner sets it
    assert [g["lr"] for g in groups_after] == [callback.lr]
    assert plot.exists() and plot.stat().st_size > 1000
    recommendation = callback.recommendation
    assert recommendation is not None and recommendation.lr == callback.lr
    assert recommendation.steps == 16  # 512 samples / 32 per batch, one epoch


def test_update_lr_false_reports_and_trains_exactly_as_without_the_test() -> None:
    def train(callbacks: list[Any]) -> dict[str, Tensor]:
        torch.manual_seed(0)
        module = Classifier(lr=0.05)
        _trainer(callbacks, max_epochs=2).fit(module)
        assert module.lr == 0.05
        return module.state_dict()

    callback = LRRangeTest(sweep=SWEEP, update_lr=False)
    assert _same_tensors(train([callback]), train([]))
    assert callback.result is not None and callback.lr is None


def test_a_scheduler_keeps_its_shape_around_the_found_lr() -> None:
    torch.manual_seed(0)
    module = Classifier(lr=0.01, schedule="warmup(steps=8, start=0.1) >> cosine(steps=8, end=0.01)")
    callback = Watched(sweep=SWEEP)
    _trainer([callback]).fit(module)
    lr = callback.lr
    assert lr is not None
    # the sweep ran at the base LR, not at the warmup's 0.1 × it, and the warmup stays a warmup
    assert callback.before["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.001)
    assert callback.after["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.1 * lr)
    assert callback.result is not None and min(callback.result.lrs) == pytest.approx(SWEEP.start)
    scheduler = module.lr_schedulers()
    assert scheduler.base_lrs == [pytest.approx(lr)]
    assert math.isclose(scheduler.get_last_lr()[0], lr * scheduler.schedule(16), rel_tol=1e-9)


def test_manual_optimization_is_refused_with_the_way_out() -> None:
    module = Classifier(manual=True)
    with pytest.raises(LrlabError, match="automatic_optimization=False"):
        _trainer([LRRangeTest(sweep=SWEEP)]).fit(module)
