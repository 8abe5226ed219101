"""What a fit carries from step to step: settings, counters, and the run context callbacks see."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn

from lrlab.distributed import World
from lrlab.errors import invalid
from lrlab.schedules import Join, Schedule, Warmup
from lrlab.train.stop import Stop, StopKind

Snapshot = dict[str, Any]  # weights, optimizer and counters at one moment (see Run.snapshot)


@dataclass(frozen=True)
class FitConfig:
    """Settings of the training loop.

    ``interval``: the schedule is a function of the optimizer step ("step", the default) or of
    the epoch ("epoch"). ``grad_clip``: max gradient norm (none: no clipping). ``amp``: bf16
    autocast (CUDA only). ``eval_batch_size``: batch size for evaluation. ``batch_size`` is per
    process under data-parallel training. ``ramp``: a per-step multiplier laid over the schedule
    (the large-batch warmup of :mod:`lrlab.scaling`). ``compile``: train through
    ``torch.compile(model)``. ``steps``: the budget in updates instead of epochs (the last
    epoch stops when it is spent; ``epochs`` is then derived from it).
    """

    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    interval: Literal["step", "epoch"] = "step"
    grad_clip: float | None = None
    amp: bool = False
    eval_batch_size: int = 2048
    augment: str | None = None
    quiet: bool = False
    ramp: Schedule | None = None
    compile: bool = False
    steps: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "steps"):
            value = getattr(self, name)
            if name == "steps" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise invalid(name, "an integer >= 1", value)
        if self.interval not in ("step", "epoch"):
            raise invalid("interval", "'step' or 'epoch'", self.interval)
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise invalid("grad_clip", "a number > 0 (or none)", self.grad_clip)


@dataclass
class TrainState:
    """Counters of a fit: completed ``epoch``s and optimizer ``step``s, the LR scale left by
    plateau and divergence cuts, and the per-epoch metrics so far."""

    epoch: int = 0
    step: int = 0
    lr_scale: float = 1.0
    history: list[dict[str, float]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        """The fields a checkpoint keeps."""
        return {"epoch": self.epoch, "step": self.step, "lr_scale": self.lr_scale, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch, self.step, self.lr_scale = state["epoch"], state["step"], state["lr_scale"]
        self.history = [dict(row) for row in state["history"]]


class Checkpointable(Protocol):
    """What a checkpoint keeps of a callback: its state, under its key."""

    @property
    def key(self) -> str: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class Run:
    """The context callbacks act on: the model, optimizer, schedule, counters and the stop.

    ``callbacks`` are the fit's callbacks in the order the loop calls them (a checkpoint saves
    and restores their states); ``step_losses`` the losses of the epoch that just trained.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    config: FitConfig
    base_lrs: list[float]
    steps_per_epoch: int
    state: TrainState = field(default_factory=TrainState)
    callbacks: Sequence[Checkpointable] = ()
    stopped: Stop | None = None
    step_losses: torch.Tensor | None = None
    world: World = field(default_factory=World)
    network: nn.Module | None = None  # what trains: the model, wrapped for data-parallel or compiled

    def stop(self, kind: StopKind, detail: str) -> None:
        """Ask the loop to stop after this epoch, saying why (the first request wins)."""
        if self.stopped is None:
            self.stopped = Stop(kind, detail)

    def multiplier(self, step: int) -> float:
        """The LR multiplier for the update after ``step`` steps (schedule × cuts)."""
        t = step if self.config.interval == "step" else step // self.steps_per_epoch
        ramp = self.config.ramp.at(step) if self.config.ramp is not None else 1.0
        return self.schedule.at(t) * self.state.lr_scale * ramp

    def warmup_epochs(self) -> int:
        """Epochs covered by a leading ``warmup(...)`` of the schedule (0 when there is none)."""
        first = self.schedule.parts[0] if isinstance(self.schedule, Join) else self.schedule
        if not isinstance(first, Warmup):
            return 0
        steps = first.steps if self.config.interval == "epoch" else first.steps / self.steps_per_epoch
        return int(-(-steps // 1))

    def snapshot(self) -> Snapshot:
        """A copy of everything a retry needs: weights, optimizer, counters (nothing shared)."""
        return {
            "model": detached_copy(self.model.state_dict()),
            "optimizer": detached_copy(self.optimizer.state_dict()),
            "state": self.state.state_dict() | {"history": [dict(row) for row in self.state.history]},
        }

    def restore(self, snapshot: Snapshot) -> None:
        """Go back to a :meth:`snapshot` (the LR scale is kept: cuts survive a restore)."""
        lr_scale = self.state.lr_scale
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(detached_copy(snapshot["optimizer"]))
        self.state.load_state_dict(snapshot["state"])  # copies the history rows itself
        self.state.lr_scale = lr_scale


def detached_copy(state: Any) -> Any:
    """``copy.deepcopy`` of a state dict whose tensors are cloned with ``detach().clone()``.

    The same structure (and ``_metadata``) as ``deepcopy``, at a fraction of its cost: deepcopy
    goes through ``Tensor.__deepcopy__`` for every tensor, which dominates for a model's state.
    """
    memo = {id(tensor): tensor.detach().clone() for tensor in _tensors(state)}
    return copy.deepcopy(state, memo)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)
