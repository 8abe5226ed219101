"""Your own task for lrlab: a model, DataLoaders, a loss and an evaluation, in plain torch.

lrlab calls ``build`` (named in experiment.toml as ``task:build(width=64)``) with its options and,
because it declares them, ``batch_size`` and ``seed`` from the experiment's ``[train]`` table.
The data are scikit-learn's 8×8 digits served by a ``Dataset`` of dict samples; any
``DataLoader``, generator or ``IterableDataset`` works the same way.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset

import lrlab


class Digits(Dataset[dict[str, Tensor]]):
    """Samples as ``{"image": 1×8×8 float, "label": int}``."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": self.images[index], "label": self.labels[index]}


class Net(nn.Module):
    """A small convolutional network with batch norm."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width // 2, 3, padding=1), nn.BatchNorm2d(width // 2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(width // 2 * 16, width), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(width, 10)

    def forward(self, image: Tensor) -> Tensor:
        return self.head(self.features(image))


def loss_fn(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Cross-entropy with a little label smoothing."""
    return functional.cross_entropy(model(batch["image"]), batch["label"], label_smoothing=0.05)


def build(batch_size: int = 64, seed: int = 0, width: int = 64) -> lrlab.Task:
    """The task: 70% of the digits to train on, 15% to validate each epoch, 15% to test once."""
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(labels)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, val, test = (
        order[: int(0.7 * len(y))],
        order[int(0.7 * len(y)) : int(0.85 * len(y))],
        order[int(0.85 * len(y)) :],
    )

    def loader(part: Tensor, shuffle: bool = False) -> DataLoader[dict[str, Tensor]]:
        return DataLoader(Digits(x[part], y[part]), batch_size=batch_size, shuffle=shuffle)

    val_loader = loader(val)

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        """Validation loss and accuracy (lrlab calls it in eval mode, without gradients)."""
        losses, hits = [], 0
        for batch in val_loader:
            scores = model(batch["image"])
            losses.append(functional.cross_entropy(scores, batch["label"], reduction="sum"))
            hits += int((scores.argmax(1) == batch["label"]).sum())
        return {"loss": float(torch.stack(losses).sum()) / len(val), "acc": hits / len(val)}

    return lrlab.Task(
        model=lambda: Net(width),
        train=loader(train, shuffle=True),
        test=loader(test),
        loss_fn=loss_fn,
        evaluate=evaluate,
        name=f"digits-dict(width={width})",
    )
