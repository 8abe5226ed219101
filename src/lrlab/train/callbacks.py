"""The callback base class: hooks that act on a :class:`~lrlab.train.state.Run`.

A callback decides with a kind and a reason (``run.stop("early-stopped", "early-stopped at …")``),
and lists the fields a checkpoint must keep in :meth:`Callback.state_dict`. Callbacks run in
``order`` (lower first): the divergence guard looks at an epoch before anything records it. Under
data-parallel training every process runs the callbacks on the same (all-reduced) metrics, so
their decisions agree; those that write files (``writes_files``) run on rank 0 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lrlab.train.state import Run


class Callback:
    """Base class; every hook is a no-op."""

    order: ClassVar[int] = 100
    writes_files: ClassVar[bool] = False  # data-parallel: run on rank 0 only

    def on_fit_start(self, run: Run) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_start(self, run: Run) -> None:
        """Called before each epoch's first update."""

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        """Called after each epoch's evaluation with that epoch's metrics."""

    def on_fit_end(self, run: Run) -> None:
        """Called once after the last epoch, and also when the fit fails (to release what the
        callback holds; an error it raises then is ignored)."""

    def state_dict(self) -> dict[str, Any]:
        """The fields a checkpoint keeps (plain data and tensors)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""

    @property
    def key(self) -> str:
        """The name this callback's state is saved under."""
        return type(self).__name__
