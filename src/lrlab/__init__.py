"""lrlab: the learning-rate lab for PyTorch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from lrlab.torch_bridge import ScheduledLR

__all__ = ["LrlabError", "ScheduledLR", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "ScheduledLR":  # imported lazily: it needs torch
        from lrlab.torch_bridge import ScheduledLR

        return ScheduledLR
    raise AttributeError(f"module 'lrlab' has no attribute {name!r}")
