"""A task bound to one fit (or one range test): batches on the device epoch by epoch, the loss of
a batch, and the held-out scores — what :func:`~lrlab.train.fit` and the sweep consume.

Two sources meet here. A :class:`~lrlab.data.Data` record trains through the fast in-memory
:class:`~lrlab.data.Batches` (seeded per epoch, data-parallel shares with loss weights, optional
augmentation) and is scored by :func:`~lrlab.train.scores.evaluate`. A :class:`~lrlab.task.Task`
streams its own iterables (see :class:`Stream`) and is scored by its ``evaluate`` or by
:func:`~lrlab.train.scores.score_batches`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional

from lrlab.data import Batches, Data, parse_augment
from lrlab.data.batches import batch_count
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.task import LossFn, Task, checked_loss, default_loss, numbers, to_device
from lrlab.train.scores import as_target, eval_split, evaluate, score_batches

Scores = Callable[[nn.Module], dict[str, float]]


class Settings(Protocol):
    """The settings a binding reads (``FitConfig`` and ``SweepConfig`` both have them)."""

    @property
    def batch_size(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def augment(self) -> str | None: ...
    @property
    def eval_batch_size(self) -> int: ...


@dataclass(frozen=True)
class Workload:
    """``batches(epoch)`` yields ``(batch, weight)`` on the device (``weight`` is this process's
    share of an uneven data-parallel batch, else 1); ``loss(model, batch)``; ``scores(model)`` the
    held-out metrics without the ``val_`` prefix (``None``: the task has no held-out data)."""

    steps_per_epoch: int
    batches: Callable[[int], Iterator[tuple[Any, float]]]
    loss: LossFn
    scores: Scores | None


def bind(source: Data | Task, settings: Settings, device: torch.device, world: World) -> Workload:
    """The workload of ``source`` for one fit on ``device`` in ``world``."""
    if isinstance(source, Data):
        return _data_workload(source, settings, device, world)
    return _task_workload(source, device, world)  # a task batches and scores itself


def _data_workload(data: Data, settings: Settings, device: torch.device, world: World) -> Workload:
    augment = parse_augment(settings.augment) if settings.augment else None
    x, y = data.x_train.to(device, non_blocking=True), data.y_train.to(device, non_blocking=True)
    batches = Batches(
        x, y, settings.batch_size, seed=settings.seed, augment=augment, rank=world.rank, world_size=world.size
    )

    def epoch(number: int) -> Iterator[tuple[Any, float]]:
        for index, batch in enumerate(batches.epoch(number)):
            yield batch, batches.weight(index)

    held_out = eval_split(data, device)
    size = settings.eval_batch_size
    return Workload(
        steps_per_epoch=len(batches),
        batches=epoch,
        loss=data_loss(data),
        scores=lambda model: evaluate(model, *held_out, data, size, world=world),
    )


def test_scores(
    model: nn.Module, source: Data | Task, eval_batch_size: int, device: torch.device, world: World
) -> dict[str, float]:
    """The test metrics of ``model`` (without the ``test_`` prefix; empty when a task has no test
    batches)."""
    if isinstance(source, Data):
        x, y = source.x_test.to(device), source.y_test.to(device)
        return evaluate(model, x, y, source, eval_batch_size, world=world)
    if source.test is None:
        return {}
    return score_batches(model, source.test, source.loss_fn, device, world=world)


def steps_per_epoch(source: Data | Task, batch_size: int, world: World) -> int:
    """Updates per epoch of ``source`` in batches of ``batch_size`` per process of ``world``: the
    batches :func:`bind`'s workload yields, the updates ``fit`` runs (under data-parallel, a last
    batch with fewer samples than processes is left out; see :func:`~lrlab.data.batches.batch_count`).
    Whatever converts epochs to steps for a run (schedule lengths, budgets, reports) counts with
    this, in the run's own ``world``."""
    if isinstance(source, Data):
        return batch_count(len(source.x_train), batch_size, world.size)
    return source.steps_per_epoch or _length(source.train)


def data_loss(data: Data) -> LossFn:
    """The loss of an ``(x, y)`` batch of ``data``: cross-entropy or mean squared error."""
    if data.task == "classification":
        return lambda model, batch: functional.cross_entropy(model(batch[0]).float(), batch[1])
    return lambda model, batch: functional.mse_loss(as_target(model(batch[0]).float(), batch[1]), batch[1])


def _task_workload(task: Task, device: torch.device, world: World) -> Workload:
    stream = Stream(task.train, task.steps_per_epoch, device)
    loss = _checked(task.loss_fn) if task.loss_fn is not None else default_loss
    scores: Scores | None = None
    if task.evaluate is not None:
        scores = _user_scores(task.evaluate)
    elif task.val is not None:
        scores = _batch_scores(task.val, task.loss_fn, device, world)
    return Workload(stream.steps_per_epoch, stream.epoch, loss, scores)


def _checked(loss_fn: LossFn) -> LossFn:
    return lambda model, batch: checked_loss(loss_fn(model, batch))


class Stream:
    """Batches of any iterable, moved to ``device``.

    Without ``steps_per_epoch``, an epoch is one pass (``len(source)`` batches; samplers and
    datasets with ``set_epoch`` are told the epoch first, as ``DistributedSampler`` needs). With
    it, an epoch is that many batches taken from one running iterator, restarted when a
    re-iterable source ends; a one-shot source (a generator) that ends is an error.
    """

    def __init__(self, source: Iterable[Any], steps_per_epoch: int | None, device: torch.device) -> None:
        self.source, self.device, self.fixed = source, device, steps_per_epoch is not None
        self.steps_per_epoch = steps_per_epoch if steps_per_epoch is not None else _length(source)
        self._iterator: Iterator[Any] | None = None
        self._taken = 0

    def epoch(self, number: int) -> Iterator[tuple[Any, float]]:
        """The batches of epoch ``number`` with weight 1."""
        if self.fixed:
            return (self._next() for _ in range(self.steps_per_epoch))
        return self._pass(number)

    def _pass(self, number: int) -> Iterator[tuple[Any, float]]:
        _set_epoch(self.source, number)
        count = 0
        for batch in self.source:
            count += 1
            yield to_device(batch, self.device), 1.0
        if count == 0:
            raise LrlabError(
                f"the training data ({type(self.source).__name__}) yielded no batches in epoch "
                f"{number + 1}; give a loader that yields batches."
            )

    def _next(self) -> tuple[Any, float]:
        for attempt in range(2):
            if self._iterator is None:
                self._iterator = iter(self.source)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None  # a re-iterable source starts again; a one-shot one is done
                if attempt:
                    break
                continue
            self._taken += 1
            return to_device(batch, self.device), 1.0
        raise LrlabError(
            f"the training data ({type(self.source).__name__}) ran out after {self._taken} batches; "
            "give a source that yields batches again when iterated (a DataLoader, a list), or an "
            "endless one."
        )


def _length(source: Iterable[Any]) -> int:
    try:
        length = len(source)  # type: ignore[arg-type]
    except TypeError:
        raise LrlabError(
            f"the training data ({type(source).__name__}) has no len(), so an epoch's length is "
            "unknown; pass steps_per_epoch=N (batches per epoch)."
        ) from None
    if length < 1:
        raise LrlabError(
            f"the training data ({type(source).__name__}) has no batches (len 0); give a loader "
            "that yields batches (is the dataset empty, or drop_last with a batch larger than it?)."
        )
    return int(length)


def _set_epoch(source: Any, epoch: int) -> None:
    """Tell the source, its sampler, batch sampler and dataset which epoch starts."""
    seen: set[int] = set()
    for holder in (
        source,
        *(getattr(source, name, None) for name in ("sampler", "batch_sampler", "dataset")),
    ):
        method = getattr(holder, "set_epoch", None)
        if callable(method) and id(holder) not in seen:
            seen.add(id(holder))
            method(epoch)


def _user_scores(user: Callable[[nn.Module], Any]) -> Scores:
    @torch.no_grad()
    def scores(model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            return numbers(user(model))
        finally:
            model.train(was_training)

    return scores


def _batch_scores(
    batches: Iterable[Any], loss_fn: LossFn | None, device: torch.device, world: World
) -> Scores:
    return lambda model: score_batches(model, batches, loss_fn, device, world=world)
