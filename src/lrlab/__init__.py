"""lrlab: the learning-rate lab for PyTorch.

The short API: ``lrlab.find_lr(model, data, optimizer)`` (the range test), ``lrlab.fit(model,
data, optimizer, schedule)`` (the training loop), ``lrlab.Task`` (your own batches, loss and
evaluation for both), ``lrlab.ScheduledLR`` (a torch ``LRScheduler`` from a schedule spec).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from lrlab.finder import find_lr
    from lrlab.task import Task
    from lrlab.torch_bridge import ScheduledLR
    from lrlab.train import fit

__all__ = ["LrlabError", "ScheduledLR", "Task", "__version__", "find_lr", "fit"]

_LAZY = {  # imported on first use: they need torch
    "ScheduledLR": "lrlab.torch_bridge",
    "Task": "lrlab.task",
    "find_lr": "lrlab.finder",
    "fit": "lrlab.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lrlab' has no attribute {name!r}")
