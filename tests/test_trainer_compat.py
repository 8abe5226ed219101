"""``ScheduledLR`` inside other trainers: one tiny real run each, checking every update's LR."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import SGD, Optimizer

from lrlab.schedules import parse
from lrlab.torch_bridge import ScheduledLR

SPEC = "warmup(steps=3, start=0.1) >> cosine(steps=5, end=0.1)"
BASES = (0.1, 0.03)
STEPS = 8


def _optimizer(model: nn.Linear) -> SGD:
    groups = [{"params": [model.weight], "lr": BASES[0]}, {"params": [model.bias], "lr": BASES[1]}]
    return SGD(groups, lr=BASES[0])


def _record(optimizer: Optimizer) -> list[list[float]]:
    """The group LRs the optimizer holds at each of its updates."""
    seen: list[list[float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: seen.append([float(group["lr"]) for group in opt.param_groups])
    )
    return seen


def _expected() -> list[list[float]]:
    schedule = parse(SPEC)
    return [[base * schedule(step) for base in BASES] for step in range(STEPS)]


def _data() -> torch.utils.data.TensorDataset:
    torch.manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(64, 3), torch.randn(64, 1))


def test_lightning_configure_optimizers(tmp_path: Path) -> None:
    lightning = pytest.importorskip("lightning", reason="Lightning is not installed")
    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Module(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 1)
            self.seen: list[list[float]] = []

        def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
            inputs, targets = batch
            return nn.functional.mse_loss(self.layer(inputs), targets)

        def configure_optimizers(self) -> dict[str, Any]:
            optimizer = _optimizer(self.layer)
            self.seen = _record(optimizer)
            scheduler = ScheduledLR(optimizer, SPEC)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    module = Module()
    trainer = lightning.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, torch.utils.data.DataLoader(_data(), batch_size=4))
    assert module.seen == _expected()


def test_hugging_face_trainer_optimizers(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="accelerate (needed by transformers.Trainer) is not installed")
    transformers.logging.set_verbosity_error()

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 1)

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": nn.functional.mse_loss(self.layer(x), labels)}

    inputs, targets = _data().tensors
    dataset = [{"x": x, "labels": y} for x, y in zip(inputs, targets, strict=True)]
    model = Model()
    optimizer = _optimizer(model.layer)
    seen = _record(optimizer)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=STEPS,
        per_device_train_batch_size=4,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    scheduler = ScheduledLR(optimizer, SPEC)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=dataset, optimizers=(optimizer, scheduler)
    )
    trainer.train()
    assert seen == _expected()
