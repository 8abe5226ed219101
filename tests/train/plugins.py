"""Plug-ins for the run tests, imported by ``pkg.module:function`` specs in test subprocesses."""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from lrlab.models import mlp

STEP_DELAY_S = 0.01  # long enough that a test can kill a run between epochs


class SlowModel(nn.Module):
    """Wraps a model; every training forward pass sleeps, so a run lasts long enough to kill."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            time.sleep(STEP_DELAY_S)
        return self.inner(x)  # type: ignore[no-any-return]


def slow_mlp(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """An MLP with dropout (so the resumed run must restore the RNG) that trains slowly."""
    return SlowModel(mlp(input_shape, num_outputs, widths=(32,), dropout=0.2))


def blobs(n: int = 240) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Three separable Gaussian blobs in 2-D: ``(x_train, y_train, x_test, y_test)``."""
    generator = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.0, 4.0], [4.0, 0.0], [-4.0, -4.0]])
    x = centres[y] + torch.randn(n, 2, generator=generator)
    cut = n * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]
