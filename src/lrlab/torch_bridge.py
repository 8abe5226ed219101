"""Schedules driving torch optimizers: :func:`set_lr` for a loop of one's own, :class:`ScheduledLR`
for torch's loops and trainers.

Both use the closed form ``lr = base_lr * schedule(step)`` for every param group, never torch's
chainable recursion, so the LR depends only on the step and the group's base LR: a resumed run
gets the exact LR whatever the optimizer's groups held before. :func:`write_lrs` is the one
function that writes LRs into param groups: these two, lrlab's own loop and the range test's sweep
all go through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrlab.errors import LrlabError, invalid
from lrlab.schedules import Schedule, parse

_STATE_KEYS = ("schedule", "last_epoch", "base_lrs", "_step_count")


def set_lr(optimizer: Optimizer, schedule: Schedule, step: float, base_lrs: Sequence[float]) -> list[float]:
    """Set each param group's LR to ``base_lrs[i] * schedule(step)`` before update ``step``.

    Returns the LRs set. ``base_lrs`` has one base LR per param group (keep them from before
    training; the groups' ``lr`` changes).
    """
    return write_lrs(optimizer, base_lrs, schedule(step))


def write_lrs(optimizer: Optimizer, base_lrs: Sequence[float], multiplier: float) -> list[float]:
    """Set each param group's LR to its base LR × ``multiplier``; return the LRs set.

    A tensor LR is written in place, as torch's schedulers do (a captured CUDA graph reads that
    tensor); any other is replaced by the number.
    """
    groups = optimizer.param_groups
    if len(base_lrs) != len(groups):
        raise invalid("base_lrs", f"one base LR per param group ({len(groups)})", list(base_lrs))
    lrs = [float(base) * multiplier for base in base_lrs]
    for group, lr in zip(groups, lrs, strict=True):
        write_group_lr(group, lr)
    return lrs


def write_group_lr(group: dict[str, Any], lr: float) -> None:
    """Set one param group's LR: a tensor LR in place (a captured CUDA graph reads that tensor),
    any other replaced by the number."""
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def _copy(lr: float | Tensor) -> float | Tensor:
    return lr.clone() if isinstance(lr, Tensor) else lr


class ScheduledLR(LRScheduler):
    """A torch ``LRScheduler`` for an lrlab schedule: ``lr = initial_lr * schedule(last_epoch)``.

    Use it wherever torch schedulers go: a plain loop (``optimizer.step()`` then
    ``scheduler.step()``), Lightning's ``configure_optimizers`` (``"interval": "step"`` when the
    schedule counts updates) or Hugging Face's ``Trainer(optimizers=(optimizer, scheduler))``.
    Each param group keeps its own base LR (torch's ``initial_lr``). ``schedule`` is a
    :class:`~lrlab.schedules.Schedule` or a spec string.

    ``state_dict()`` is plain data (``torch.load(weights_only=True)`` reads it) holding the
    schedule's spec; ``load_state_dict`` refuses a state saved with a different schedule and sets
    the groups' LRs itself, so resuming into a fresh optimizer gives the exact LR.
    ``last_epoch`` is torch's: -1 starts; ``k >= 0`` (groups need ``initial_lr``) continues at
    ``k + 1``, as torch's schedulers do. Prefer ``load_state_dict`` to resume.

    >>> import torch
    >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> scheduler = ScheduledLR(optimizer, "warmup(steps=2, start=0.5) >> constant()")
    >>> [round(lr, 3) for lr in scheduler.get_last_lr()]
    [0.05]
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule | str, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise invalid("optimizer", "a torch.optim.Optimizer", optimizer)
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise invalid("last_epoch", "an integer >= -1 (-1 to start)", last_epoch)
        if last_epoch >= 0 and any("initial_lr" not in group for group in optimizer.param_groups):
            raise invalid(
                "last_epoch",
                "-1 for an optimizer no scheduler has wrapped yet (its groups lack 'initial_lr')",
                last_epoch,
                "To resume, create ScheduledLR(optimizer, schedule) and call load_state_dict(state).",
            )
        self.schedule = parse(schedule)
        self.spec = str(self.schedule)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float | Tensor]:
        """The LR of each group at ``last_epoch``: ``base_lr * schedule(last_epoch)``."""
        multiplier = self.schedule(self.last_epoch)
        return [base * multiplier for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float | Tensor]:
        return self.get_lr()  # the deprecated step(epoch) gets the same closed form

    def state_dict(self) -> dict[str, Any]:
        """The schedule's spec, the step count and the groups' base LRs: plain data only."""
        return {
            "schedule": self.spec,
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "_step_count": self._step_count,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from ``state_dict``: the same schedule, step and base LRs, and those LRs set."""
        _check_state(state_dict, self.spec, len(self.optimizer.param_groups))
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict["_step_count"])
        self.base_lrs = list(state_dict["base_lrs"])
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        write_lrs(self.optimizer, [float(base) for base in self.base_lrs], self.schedule(self.last_epoch))
        self._last_lr = [_copy(group["lr"]) for group in self.optimizer.param_groups]

    def __repr__(self) -> str:
        return f"ScheduledLR({self.spec!r}, last_epoch={self.last_epoch})"


def _check_state(state: Mapping[str, Any], spec: str, groups: int) -> None:
    if not isinstance(state, Mapping) or any(key not in state for key in _STATE_KEYS):
        keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise LrlabError(f"not a ScheduledLR state: expected the keys {', '.join(_STATE_KEYS)}, got {keys}.")
    if state["schedule"] != spec:
        raise LrlabError(
            f"resuming with a different schedule: the state was saved with {state['schedule']!r} "
            f"but this scheduler runs {spec!r}; pass the original spec or start fresh."
        )
    if len(state["base_lrs"]) != groups:
        raise invalid("base_lrs", f"one base LR per param group ({groups})", state["base_lrs"])
