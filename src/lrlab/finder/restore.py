"""What a range test puts back, whatever happens: the model's weights, buffers, train/eval modes and
gradients, the optimizer's state and param groups (and a tensor default, such as a tensor LR
that the sweep wrote in place), and the random generators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lrlab.train.checkpoint import rng_state, set_rng_state
from lrlab.train.state import detached_copy


@dataclass(frozen=True)
class Saved:
    """Copies of everything :func:`restore` puts back (nothing shared with the live objects)."""

    model: dict[str, Any]
    optimizer: dict[str, Any]
    default_tensors: dict[str, Tensor]
    training: list[bool]
    rng: dict[str, Any]
    grads: list[Tensor | None]


def save(model: nn.Module, optimizer: torch.optim.Optimizer) -> Saved:
    """Copy what a sweep changes."""
    return Saved(
        detached_copy(model.state_dict()),
        detached_copy(optimizer.state_dict()),
        {key: v.detach().clone() for key, v in optimizer.defaults.items() if isinstance(v, Tensor)},
        [module.training for module in model.modules()],
        rng_state(),
        [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
    )


def restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved: Saved) -> None:
    """Put back what :func:`save` copied, bit for bit."""
    model.load_state_dict(saved.model)
    optimizer.load_state_dict(detached_copy(saved.optimizer))
    for key, value in saved.default_tensors.items():  # a tensor LR, written in place, is its default too
        optimizer.defaults[key].copy_(value)
    for module, training in zip(model.modules(), saved.training, strict=True):
        module.training = training
    for param, grad in zip(model.parameters(), saved.grads, strict=True):
        param.grad = grad  # a caller that accumulates gradients finds its own, not the sweep's
    set_rng_state(saved.rng)
