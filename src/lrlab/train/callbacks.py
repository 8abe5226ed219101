"""The callback base class: hooks that act on a :class:`~lrlab.train.state.Run`, and the list the
loop calls them through.

A callback decides with a kind and a reason (``run.stop("early-stopped", "early-stopped at …")``),
and lists the fields a checkpoint must keep in :meth:`Callback.state_dict`. ``on_epoch_end`` may
also return a :class:`Rollback`: the epoch is undone, the run goes back to where the epoch began,
and the callbacks after this one never see it. Callbacks run in ``order`` (lower first): the
divergence guard looks at an epoch before anything records it. Under data-parallel training every
process runs the callbacks on the same (all-reduced) metrics, so their decisions agree; those that
write files (``writes_files``) run on rank 0 only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lrlab.distributed import World
from lrlab.train.state import Run, Snapshot


@dataclass(frozen=True)
class Rollback:
    """An ``on_epoch_end`` decision: undo this epoch (the loop restores ``to``, a
    :meth:`Run.snapshot` from its start) and let no later callback record it, because ``reason``."""

    to: Snapshot
    reason: str


class Callback:
    """Base class; every hook is a no-op."""

    order: ClassVar[int] = 100
    writes_files: ClassVar[bool] = False  # data-parallel: run on rank 0 only

    def on_fit_start(self, run: Run) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_start(self, run: Run) -> None:
        """Called before each epoch's first update."""

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> Rollback | None:
        """Called after each epoch's evaluation with that epoch's metrics; return a
        :class:`Rollback` to undo the epoch (``None``, the default, keeps it)."""
        return None

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


class CallbackList:
    """A fit's callbacks as the loop calls them: those this process runs (rank 0 alone runs the
    ones that write files), sorted by ``order`` (stable: equal orders keep the given order)."""

    def __init__(self, callbacks: Sequence[Callback], world: World) -> None:
        chosen = (callback for callback in callbacks if world.main or not callback.writes_files)
        self.callbacks = sorted(chosen, key=lambda callback: callback.order)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def fit_start(self, run: Run) -> None:
        """``on_fit_start`` of each."""
        for callback in self.callbacks:
            callback.on_fit_start(run)

    def epoch_start(self, run: Run) -> None:
        """``on_epoch_start`` of each."""
        for callback in self.callbacks:
            callback.on_epoch_start(run)

    def epoch_end(self, run: Run, metrics: Mapping[str, float]) -> Rollback | None:
        """``on_epoch_end`` of each, up to the first that returns a :class:`Rollback` (returned:
        the callbacks after it must not record an undone epoch)."""
        for callback in self.callbacks:
            decision = callback.on_epoch_end(run, metrics)
            if isinstance(decision, Rollback):
                return decision
        return None

    def fit_end(self, run: Run) -> None:
        """``on_fit_end`` of each."""
        for callback in self.callbacks:
            callback.on_fit_end(run)

    def fit_failed(self, run: Run) -> None:
        """``on_fit_end`` of each after an error: every callback still ends (a checkpoint releases
        the run directory's lock), and their own trouble does not hide the error."""
        for callback in self.callbacks:
            with contextlib.suppress(Exception):
                callback.on_fit_end(run)
