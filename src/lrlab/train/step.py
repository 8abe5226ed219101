"""One training step, shared by :func:`~lrlab.train.fit` and the range test's sweep: the device,
the module that trains, the loss of a batch, and the update.

Both callers write the LRs before an update with :func:`lrlab.torch_bridge.write_lrs` and update
with :func:`update`, so a sweep's step is a fit's step: the same autocast, the same loss weighting
of an uneven data-parallel batch, the same gradient clipping.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, cast

import torch
from torch import Tensor, nn

from lrlab.distributed import World
from lrlab.errors import invalid
from lrlab.task import LossFn


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise invalid("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", name) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise invalid("device", "a device this machine has", name, "Use device='auto' or 'cpu'.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise invalid("device", "a device this machine has (no Apple MPS here)", name, "Use 'auto' or 'cpu'.")
    return device


def training_module(model: nn.Module, device: torch.device, world: World, compile: bool) -> nn.Module:
    """The module that trains: ``model``, under ``DistributedDataParallel`` for several processes,
    through ``torch.compile`` when asked."""
    network = model
    if world.parallel:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return cast(nn.Module, torch.compile(network)) if compile else network


def loss_function(
    loss: LossFn, network: nn.Module, device: torch.device, amp: bool
) -> Callable[[Any], Tensor]:
    """The loss of a batch through ``network``, under bf16 autocast on CUDA with ``amp``: chosen
    once, so a step without AMP enters no context at all."""
    if not (amp and device.type == "cuda"):
        return lambda batch: loss(network, batch)

    def autocast_loss(batch: Any) -> Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return loss(network, batch).float()

    return autocast_loss


def update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Any, float]],
    *,
    loss_of: Callable[[Any], Tensor],
    grad_clip: float | None,
    accumulation: int = 1,
) -> list[Tensor]:
    """One optimizer update over the next ``accumulation`` ``(batch, weight)`` pairs of
    ``batches`` (gradients averaged; ``weight`` is a process's share of an uneven data-parallel
    batch); returns each micro-batch's loss, detached. Batches are taken one at a time, each
    after the previous one's backward pass, so a loader's random draws interleave with the
    model's as in a plain loop."""
    optimizer.zero_grad(set_to_none=True)
    losses = []
    for batch, weight in itertools.islice(batches, accumulation):
        loss = loss_of(batch)
        scale = weight / accumulation
        torch.autograd.backward(loss * scale if scale != 1.0 else loss)
        losses.append(loss.detach())
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return losses
