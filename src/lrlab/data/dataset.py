"""The :class:`Data` record and the steps every loaded dataset goes through: validation split
and normalization, both computed from the training split only."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lrlab.errors import LrlabError, invalid

Task = Literal["classification", "regression"]
TASKS = ("classification", "regression")


def _shape(t: Tensor | None) -> str:
    return "None" if t is None else "×".join(str(s) for s in t.shape)


@dataclass(frozen=True, kw_only=True, eq=False)
class Data:
    """A dataset as tensors: inputs ``x_*`` (float32, samples first; images N×C×H×W) and targets
    ``y_*`` (int64 class labels, or float32 for regression). ``x_val``/``y_val`` are None when no
    validation split was asked for. ``num_classes`` is None for regression."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor | None = None
    y_val: Tensor | None = None
    x_test: Tensor
    y_test: Tensor
    task: Task
    num_classes: int | None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise invalid("task", "'classification' or 'regression'", self.task)
        if (self.x_val is None) != (self.y_val is None):
            raise LrlabError(f"{self.name}: give both x_val and y_val, or neither.")
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x is not None and len(x) != len(y):
                raise LrlabError(f"{self.name}: x_{split} holds {len(x)} samples but y_{split} {len(y)}.")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise LrlabError(
                f"{self.name}: train inputs are {_shape(self.x_train)}, test {_shape(self.x_test)}."
            )
        if self.task == "regression":
            if self.num_classes is not None:
                raise invalid("num_classes", "None for a regression task", self.num_classes)
            return
        _check_labels(self.name, self.num_classes, [self.y_train, self.y_val, self.y_test])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, e.g. ``(1, 28, 28)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def output_size(self) -> int:
        """What a model predicts per sample: ``num_classes``, or the number of regression targets."""
        if self.num_classes is not None:
            return self.num_classes
        return 1 if self.y_train.ndim == 1 else math.prod(self.y_train.shape[1:])

    def __repr__(self) -> str:
        splits = ", ".join(
            f"{split}={_shape(getattr(self, f'x_{split}'))}" for split in ("train", "val", "test")
        )
        return f"Data(name={self.name!r}, task={self.task!r}, num_classes={self.num_classes}, {splits})"


def _check_labels(name: str, num_classes: int | None, labels: list[Tensor | None]) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise invalid("num_classes", "an integer >= 2 for a classification task", num_classes)
    for y in labels:
        if y is None or len(y) == 0:
            continue
        if y.dtype != torch.int64 or y.ndim != 1:
            raise LrlabError(f"{name}: class labels must be a 1-D int64 tensor, got {y.dtype} {_shape(y)}.")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise LrlabError(f"{name}: labels must lie in [0, {num_classes - 1}], found {low}..{high}.")


def as_float_inputs(x: Tensor | np.ndarray, *, images: bool = False) -> Tensor:
    """Inputs as float32. With ``images``: uint8 pixels are scaled to [0, 1] and N×H×W images get a
    channel dimension (N×1×H×W)."""
    tensor = torch.as_tensor(x)
    if images and tensor.dtype == torch.uint8:
        tensor = tensor.to(torch.float32).div_(255.0)  # a new tensor, so dividing in place is safe
    tensor = tensor.to(torch.float32)
    return tensor.unsqueeze(1) if images and tensor.ndim == 3 else tensor


def _class_quotas(counts: Tensor, fraction: float) -> Tensor:
    """Split ``round(fraction * n)`` among classes in proportion to ``counts`` (largest remainder)."""
    share = counts.to(torch.float64) * fraction
    quotas = share.floor().to(torch.int64)
    missing = round(fraction * int(counts.sum())) - int(quotas.sum())
    by_remainder = torch.argsort(quotas - share, stable=True)  # largest remainder first
    quotas[by_remainder[:missing]] += 1
    return quotas


def stratified_indices(y: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Seeded ``(train, val)`` indices: ``round(fraction * n)`` in val, each class in proportion."""
    n = len(y)
    perm = torch.randperm(n, generator=generator)
    shuffled = y[perm]
    order = torch.argsort(shuffled, stable=True)
    grouped, labels = perm[order], shuffled[order]
    counts = torch.bincount(y)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - starts[labels]
    take = rank < _class_quotas(counts, fraction)[labels]
    return grouped[~take].sort().values, grouped[take].sort().values


def check_fraction(fraction: float) -> None:
    """Validate ``val_fraction``: a number in [0, 1)."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
        raise invalid("val_fraction", "a number in [0, 1)", fraction)


def split_validation(data: Data, fraction: float, seed: int) -> Data:
    """Move a seeded slice of the training split into the validation split.

    Stratified by class for classification (each class keeps its share), uniformly random for
    regression; both keep the original sample order within each split.
    """
    check_fraction(fraction)
    if fraction == 0:
        return data
    if data.x_val is not None:
        raise invalid("val_fraction", "0 for a dataset that has its own validation split", fraction)
    generator = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    if data.task == "classification":
        train, val = stratified_indices(data.y_train, fraction, generator)
    else:
        perm = torch.randperm(n, generator=generator)
        cut = round(fraction * n)
        train, val = perm[cut:].sort().values, perm[:cut].sort().values
    if len(val) == 0 or len(train) == 0:
        raise invalid("val_fraction", f"large enough to leave samples in both splits of {n}", fraction)
    x, y = data.x_train, data.y_train
    return dataclasses.replace(data, x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val])


def normalize(data: Data) -> Data:
    """Standardize inputs per channel (dimension 1) with the training split's mean and std.

    A channel that is constant over the training split is only centred (its std counts as 1).
    """
    x = data.x_train
    dims = [d for d in range(x.ndim) if d != 1] if x.ndim > 1 else [0]
    count = x.numel() // (x.shape[1] if x.ndim > 1 else 1)
    mean = x.mean(dim=dims, keepdim=True)
    centred = x - mean
    # Squares of the centred values (needed for the result anyway): faster than std_mean, and
    # more accurate than a float32 vector_norm.
    std = centred.square().sum(dim=dims, keepdim=True).div_(max(count - 1, 1)).sqrt_()
    std = torch.where(std > 0, std, torch.ones_like(std))

    def scale(t: Tensor | None) -> Tensor | None:
        return None if t is None else (t - mean).div_(std)

    return dataclasses.replace(
        data, x_train=centred.div_(std), x_val=scale(data.x_val), x_test=(data.x_test - mean).div_(std)
    )
