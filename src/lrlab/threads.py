"""Intra-op threads per workload.

A small dense model (an MLP on digits: a few thousand parameters, matrices of 128 × 64) gains
nothing from many intra-op threads, and beside any other busy process those threads spin and
wait on each other: the quickstart comparison took 37–100 s on 2 busy cores with torch's default
threads and 12 s with one (about 15 s idle). So a small model trains on **one thread per
process**, and parallelism comes from processes (``compare --jobs`` and ``tune --workers``
default to one per CPU). Larger models, convolutions and sequence models keep the threads they
were given. ``$OMP_NUM_THREADS``, when set, is the user's choice and is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from lrlab.parallel import torch_threads

SMALL_PARAMETERS = 200_000  # a dense model up to this size trains on one thread
_HEAVY = (nn.modules.conv._ConvNd, nn.Embedding, nn.MultiheadAttention)  # compute beyond their size


def is_small(model: nn.Module) -> bool:
    """Whether ``model`` is a small dense model (see the module docs)."""
    if any(isinstance(module, _HEAVY) for module in model.modules()):
        return False
    return sum(p.numel() for p in model.parameters()) <= SMALL_PARAMETERS


def threads_for(model: nn.Module, device: torch.device) -> int | None:
    """The intra-op threads to train ``model`` on ``device`` with (``None``: leave them as they
    are: a GPU, a larger model, or ``$OMP_NUM_THREADS`` set)."""
    if device.type != "cpu" or os.environ.get("OMP_NUM_THREADS") or not is_small(model):
        return None
    return 1


@contextmanager
def workload_threads(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Run the block with :func:`threads_for` ``model``'s threads, then restore the old count."""
    threads = threads_for(model, device)
    with torch_threads(threads) if threads is not None else nullcontext():
        yield
