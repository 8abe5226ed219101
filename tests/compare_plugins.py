"""Plug-ins for the comparison tests, imported by ``pkg.module:function`` specs in workers."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from torch import nn

from lrlab.models import mlp

RENDEZVOUS_ENV = "LRLAB_TEST_RENDEZVOUS"
WAIT_S = 60.0


def rendezvous_mlp(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """A small MLP. In a worker process, when ``$LRLAB_TEST_RENDEZVOUS`` names a folder, it first
    waits there until two worker processes have built a model: proof that runs overlap in two
    processes, whatever the order in which the workers started."""
    folder = os.environ.get(RENDEZVOUS_ENV)
    if folder and multiprocessing.parent_process() is not None:
        Path(folder, str(os.getpid())).touch()
        deadline = time.monotonic() + WAIT_S
        while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    return mlp(input_shape, num_outputs, widths=(16,))
