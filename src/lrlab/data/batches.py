"""A fast in-memory batch iterator: tensors stay on the device, an epoch is one permutation.

Each epoch draws one ``torch.randperm`` from a generator seeded by ``(seed, epoch)``, so the order
of any epoch can be replayed on its own: resuming at epoch ``e``, batch ``k`` is
``batches.epoch(e, start=k)``. Batches are index slices of the resident tensors; there is no
per-sample Python and no ``DataLoader``.

Data-parallel: with ``world_size`` processes, every process draws the same order, and batch ``k``
of the epoch is the ``k``-th slice of ``batch_size × world_size`` samples, of which process
``rank`` takes its share (one contiguous part; parts differ by one sample at most in the last
batch, and a last batch with fewer samples than processes is left out). :meth:`Batches.weight`
says how much of the batch a process holds, so that the mean of the processes' weighted losses is
the loss of the whole batch: one process with ``batch_size × world_size`` sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from lrlab.data.augment import Augment
from lrlab.errors import LrlabError, invalid

ORDER_STREAM = 0
AUGMENT_STREAM = 1


def mix_seed(*words: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers such as ``(seed, epoch, stream)``.

    Mixing (rather than ``seed + epoch``) keeps runs with neighbouring seeds from replaying each
    other's epochs one epoch apart.
    """
    state = np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0]
    return int(state) >> 1


def batch_count(samples: int, batch_size: int, world_size: int = 1, *, drop_last: bool = False) -> int:
    """Batches per epoch of ``samples`` in batches of ``batch_size`` per process of ``world_size``:
    a last batch with fewer samples than processes is left out (see the module docs). The one
    formula behind :class:`Batches`' length and :func:`lrlab.train.feed.steps_per_epoch`.

    >>> batch_count(10, 4, 3), batch_count(13, 4, 3), batch_count(10, 4)
    (1, 1, 3)
    """
    full, rest = divmod(samples, batch_size * world_size)
    return full + (1 if rest >= world_size and not drop_last else 0)


def _check_int(param: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(param, f"an integer >= {minimum}", value)


class Batches:
    """Mini-batches of ``(x, y)`` held on one device.

    Args:
        x: inputs, samples first.
        y: targets, as many as ``x``.
        batch_size: samples per batch; the last batch of an epoch may be smaller unless
            ``drop_last``.
        shuffle: draw a new order each epoch (otherwise the stored order, every epoch).
        drop_last: leave out the last, smaller batch.
        seed: seeds the order and the augmentation of every epoch.
        device: where the tensors live and batches are made (default: ``x``'s device).
        augment: applied to each batch's inputs with a generator on ``device``.
        rank: this process's share of every batch (data-parallel; see the module docs).
        world_size: processes sharing every batch; ``batch_size`` is per process.

    Iterating the object runs the next epoch (starting at 0, or where :meth:`set_epoch` says).
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        device: str | torch.device | None = None,
        augment: Augment | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_int("batch_size", batch_size, 1)
        _check_int("seed", seed, 0)
        _check_int("world_size", world_size, 1)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise invalid("rank", f"an integer in [0, {world_size})", rank)
        if len(x) != len(y):
            raise LrlabError(f"x and y must hold as many samples, got {len(x)} inputs and {len(y)} targets.")
        if drop_last and batch_size * world_size > len(x):
            raise invalid(
                "batch_size", f"at most the number of samples ({len(x)}) with drop_last", batch_size
            )
        self.device = torch.device(device) if device is not None else x.device
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.augment = seed, augment
        self.rank, self.world_size = rank, world_size
        self.next_epoch = 0

    @property
    def global_batch_size(self) -> int:
        """Samples per batch over all processes."""
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        """Batches per epoch."""
        return batch_count(len(self.x), self.batch_size, self.world_size, drop_last=self.drop_last)

    def _bounds(self, number: int) -> tuple[int, int, int]:
        """Where this process's part of batch ``number`` starts and ends, and the batch's size."""
        begin = number * self.global_batch_size
        size = min(self.global_batch_size, len(self.x) - begin)
        part, extra = divmod(size, self.world_size)
        start = begin + self.rank * part + min(self.rank, extra)
        return start, start + part + (1 if self.rank < extra else 0), size

    def weight(self, number: int) -> float:
        """This process's share of batch ``number`` × the number of processes (1 for full batches)."""
        start, end, size = self._bounds(number)
        return (end - start) * self.world_size / size

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``for batch in batches`` run epoch ``epoch`` (to resume a run)."""
        _check_int("epoch", epoch, 0)
        self.next_epoch = epoch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch = self.next_epoch
        self.next_epoch += 1
        return self.epoch(epoch)

    def order(self, epoch: int) -> Tensor | None:
        """The sample order of ``epoch`` on the device, or None when not shuffling."""
        if not self.shuffle:
            return None
        generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, ORDER_STREAM))
        return torch.randperm(len(self.x), generator=generator).to(self.device)

    def epoch(self, epoch: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of ``epoch`` from batch number ``start`` on (the same every call)."""
        _check_int("epoch", epoch, 0)
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= len(self):
            raise invalid("start", f"an integer in [0, {len(self)}]", start)
        return self._iterate(epoch, start)

    def _iterate(self, epoch: int, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        order, augment = self.order(epoch), self.augment
        generator = torch.Generator(device=self.device) if augment is not None else None
        for number in range(start, len(self)):
            begin, end, _ = self._bounds(number)
            if order is None:
                x, y = self.x[begin:end], self.y[begin:end]
            else:
                index = order[begin:end]
                x, y = self.x.index_select(0, index), self.y.index_select(0, index)
            if augment is not None and generator is not None:
                # Seeded per batch, so resuming mid-epoch augments exactly as the first run did.
                ranked = (self.rank,) if self.world_size > 1 else ()
                generator.manual_seed(mix_seed(self.seed, epoch, AUGMENT_STREAM, number, *ranked))
                x = augment(x, generator)
            yield x, y
