"""Plug-ins for the comparison tests, imported by ``pkg.module:function`` specs in workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

from torch import Tensor, nn

from lrlab.models import mlp

RENDEZVOUS_ENV = "LRLAB_TEST_RENDEZVOUS"
WAIT_S = 60.0


class Rendezvous(nn.Module):
    """A small MLP whose first training step, when ``$LRLAB_TEST_RENDEZVOUS`` names a folder,
    waits there until two processes have started training: proof that runs overlap in two
    processes, whatever the order in which they started (building the model for the checks
    before training counts for nothing)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.met = inner, False

    def forward(self, x: Tensor) -> Tensor:
        folder = os.environ.get(RENDEZVOUS_ENV)
        if folder and self.training and not self.met:
            self.met = True
            Path(folder, str(os.getpid())).touch()
            deadline = time.monotonic() + WAIT_S
            while len(os.listdir(folder)) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no second process started training within {WAIT_S:g} s")
                time.sleep(0.01)
        out: Tensor = self.inner(x)
        return out


def rendezvous_mlp(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """:class:`Rendezvous` around a small MLP."""
    return Rendezvous(mlp(input_shape, num_outputs, widths=(16,)))
