"""Held-out scores of a model: a ``Data`` record's split evaluated in memory (:func:`evaluate`),
or any batches through a loss (:func:`score_batches`); data-parallel processes each score their
part and the sums are all-reduced."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from lrlab.data import Data
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.task import LossFn, batch_size_of, default_loss, describe, is_pair, supervised_loss, to_device


@torch.no_grad()
def score_batches(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: LossFn | None,
    device: torch.device,
    *,
    world: World | None = None,
) -> dict[str, float]:
    """Mean loss over ``batches`` (weighted by samples), in eval mode; with the default loss on
    ``(x, y)`` batches with integer targets, also the accuracy. Data-parallel: each process
    scores its own batches and the sums are all-reduced."""
    world = world or World()
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss × samples, samples, hits, targets
    try:
        for raw in batches:
            batch = to_device(raw, device)
            samples = batch_size_of(batch)
            if loss_fn is None and is_pair(batch) and not batch[1].is_floating_point():
                out = model(batch[0])
                if isinstance(out, Tensor):
                    sums[2:] += _hits(out, batch[1])
                    loss = supervised_loss(out, batch[1])
                else:
                    loss = default_loss(model, batch)
            else:
                loss = (loss_fn or default_loss)(model, batch)
            sums[0] += loss.detach().double() * samples
            sums[1] += samples
    finally:
        model.train(was_training)
    loss_sum, count, hits, targets = world.sum(sums).tolist()
    if count == 0:
        raise LrlabError(f"the held-out data ({type(batches).__name__}) yielded no batches.")
    scores = {"loss": loss_sum / count}
    return scores | {"acc": hits / targets} if targets else scores


def _hits(out: Tensor, y: Tensor) -> Tensor:
    """Correct predictions and targets (class scores in the last dimension, or in dimension 1)."""
    last = out.ndim == y.ndim + 1 and out.shape[:-1] == y.shape
    predicted = out.argmax(dim=-1 if last else 1)
    if predicted.shape != y.shape:
        raise LrlabError(
            f"cannot score outputs of shape {tuple(out.shape)} against targets {tuple(y.shape)} "
            f"in a batch of {describe((out, y))}; pass evaluate=… or loss_fn=…."
        )
    return torch.stack([(predicted == y).sum(), torch.tensor(y.numel(), device=y.device)]).double()


@torch.no_grad()
def evaluate(
    model: nn.Module, x: Tensor, y: Tensor, data: Data, batch_size: int, *, world: World | None = None
) -> dict[str, float]:
    """Mean loss and accuracy (or MSE) of ``model`` on ``(x, y)``, in eval mode.

    With a data-parallel ``world``, each process evaluates its part and the sums are all-reduced.
    """
    world = world or World()
    begin, end = part(len(x), world)
    loss_sum, hits, count = world.sum(_sums(model, x[begin:end], y[begin:end], data, batch_size)).tolist()
    loss = loss_sum / max(count, 1)
    if data.task == "classification":
        return {"loss": loss, "acc": hits / max(count, 1)}
    return {"loss": loss, "mse": loss}


def part(size: int, world: World) -> tuple[int, int]:
    """The contiguous part of ``size`` items that ``world.rank`` takes (sizes differ by one at most)."""
    share, extra = divmod(size, world.size)
    start = world.rank * share + min(world.rank, extra)
    return start, start + share + (1 if world.rank < extra else 0)


def _sums(model: nn.Module, x: Tensor, y: Tensor, data: Data, batch_size: int) -> Tensor:
    """Summed loss, correct predictions and sample count of ``(x, y)`` (float64, one tensor)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device, dtype=torch.float64)
    sums[2] = len(x)
    for start in range(0, len(x), batch_size):
        out = model(x[start : start + batch_size]).float()
        target = y[start : start + batch_size]
        if data.task == "classification":
            sums[0] += functional.cross_entropy(out, target, reduction="sum")
            sums[1] += (out.argmax(dim=1) == target).sum()
        else:
            sums[0] += functional.mse_loss(as_target(out, target), target, reduction="sum")
    model.train(was_training)
    return sums


def as_target(out: Tensor, y: Tensor) -> Tensor:
    """Regression outputs ``(N, 1)`` compare with targets ``(N,)``."""
    return out.reshape(y.shape) if y.is_floating_point() else out


def eval_split(data: Data, device: torch.device) -> tuple[Tensor, Tensor]:
    """The split evaluated each epoch: validation when there is one, else test."""
    if data.x_val is not None and data.y_val is not None:
        return data.x_val.to(device), data.y_val.to(device)
    return data.x_test.to(device), data.y_test.to(device)
