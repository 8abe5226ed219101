"""Plug-ins for the tests that kill commands mid-run, imported by ``pkg.module:function`` specs
in the processes those commands start."""

from __future__ import annotations

import os
import time
from pathlib import Path

from torch import Tensor, nn

from lrlab.models import mlp

GATE_ENV = "LRLAB_TEST_GATE"  # "<folder>:<step>"
_steps = [0]  # training steps of this process, over all its runs


class Gated(nn.Module):
    """A small MLP whose process stops for good at its ``<step>``-th training step (counted over
    all the runs it trains) when ``$LRLAB_TEST_GATE`` is ``<folder>:<step>``: it leaves a file
    named by its pid in the folder and waits to be killed. A test sees every trainer mid-run at
    once, however slowly each started. Without the variable it is the MLP alone, step for step."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        gate = os.environ.get(GATE_ENV)
        if gate and self.training:
            folder, _, step = gate.rpartition(":")
            _steps[0] += 1
            if _steps[0] == int(step):
                Path(folder, str(os.getpid())).touch()
                while True:
                    time.sleep(0.05)
        out: Tensor = self.inner(x)
        return out


def gated_mlp(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """:class:`Gated` around a small MLP."""
    return Gated(mlp(input_shape, num_outputs, widths=(32,)))


def gate_passed(folder: Path) -> set[int]:
    """The pids of the processes waiting at the gate in ``folder``."""
    return {int(name) for name in os.listdir(folder)} if folder.is_dir() else set()


class Broken(nn.Module):
    """Builds like any model and fails at its first training step, as a model with a bug does."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int) -> None:
        super().__init__()
        self.inner = mlp(input_shape, num_outputs, widths=(8,))

    def forward(self, x: Tensor) -> Tensor:
        raise TypeError("'int' object is not iterable")


def broken(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """:class:`Broken`: a trial with this model fails, and says why."""
    return Broken(input_shape, num_outputs)
