"""The task contract: what ``fit``, the range test, ``compare`` and ``tune`` train on.

A task is three things:

- **training batches** from any iterable — a ``DataLoader``, a list, a generator, an
  ``IterableDataset`` — whose batches may be tensors, tuples, lists, dicts or dataclasses; they are
  moved to the device recursively (non-blocking where pinned). One pass over the iterable is an
  epoch; for an endless (or one-shot) iterable, ``steps_per_epoch`` says how many batches an epoch
  takes, and the batches continue where the last epoch stopped;
- **a loss**: by default cross-entropy (integer targets) or mean squared error (float targets) for
  ``(x, y)`` batches, ``output.loss`` for outputs that have one and ``output["loss"]`` for dict
  outputs (a dict batch is passed as ``model(**batch)``, as Hugging Face models take it);
  otherwise the user's ``loss_fn(model, batch) -> Tensor``;
- **an evaluation** each epoch: the default metrics on ``val`` batches (mean loss, and accuracy for
  ``(x, y)`` batches with integer targets), or the user's ``evaluate(model) -> dict``, whose keys
  become ``val_<key>`` columns that early stopping, plateau cuts and tuning can monitor.

lrlab's own datasets (:class:`~lrlab.data.Data`) are one user of the same contract, through the
fast in-memory :class:`~lrlab.data.Batches`.

>>> import torch
>>> batch = {"x": torch.zeros(4, 3), "y": torch.zeros(4, dtype=torch.long)}
>>> batch_size_of(batch), type(to_device(batch, torch.device("cpu"))).__name__
(4, 'dict')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from lrlab.data.dataset import Data
from lrlab.errors import LrlabError, invalid

LossFn = Callable[[nn.Module, Any], Tensor]
Evaluate = Callable[[nn.Module], Mapping[str, Any]]
READABLE = (
    "(x, y) pairs of tensors (cross-entropy for integer y, MSE for float y), and batches whose "
    "model output has .loss or ['loss'] (a dict batch is passed as model(**batch))"
)


@dataclass(frozen=True)
class Task:
    """A user's training task.

    Args:
        train: training batches (any iterable; see the module docs).
        val: held-out batches scored every epoch with the default metrics (unless ``evaluate``).
        test: batches scored once after training (``test_*`` in a run's summary).
        loss_fn: ``loss_fn(model, batch) -> Tensor`` (a scalar); default: see the module docs.
        evaluate: ``evaluate(model) -> {name: number}``, called every epoch in eval mode without
            gradients; the names become ``val_<name>`` metrics.
        steps_per_epoch: batches per epoch; needed when ``train`` has no ``len()``.
        model: builds a fresh model (experiment-file plug-ins must give it; it is called after
            seeding, so a run's initial weights follow its seed).
        name: shown in run records.
        input_shape, num_outputs: what lrlab's own models (``task.model`` in an experiment) are
            sized for when the task gives no ``model`` (a text corpus: its context and vocabulary).
    """

    train: Iterable[Any]
    val: Iterable[Any] | None = None
    test: Iterable[Any] | None = None
    loss_fn: LossFn | None = None
    evaluate: Evaluate | None = None
    steps_per_epoch: int | None = None
    model: Callable[[], nn.Module] | None = None
    name: str = "task"
    input_shape: tuple[int, ...] | None = None
    num_outputs: int | None = None

    def __post_init__(self) -> None:
        for field in ("train", "val", "test"):
            value = getattr(self, field)
            if field != "train" and value is None:
                continue
            if isinstance(value, str | bytes | Tensor) or not isinstance(value, Iterable):
                raise invalid(
                    field, "an iterable of batches (a DataLoader, a list, a generator, …)", _kind(value)
                )
        for field in ("loss_fn", "evaluate", "model"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise invalid(field, "a function (or None)", _kind(value))
        steps = self.steps_per_epoch
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise invalid("steps_per_epoch", "an integer >= 1 (or None: one pass over train)", steps)


def _kind(value: object) -> object:
    """How an error shows a value: short ones as they are, others by their type's name."""
    return value if len(repr(value)) <= 60 else f"<{type(value).__name__}>"


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor on ``device`` (non-blocking from pinned memory), rebuilt with
    the same structure: tuples (named ones too), lists, mappings, dataclasses; other leaves kept."""
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=batch.is_pinned())
    if isinstance(batch, tuple):
        moved = [to_device(item, device) for item in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    if isinstance(batch, list):
        return [to_device(item, device) for item in batch]
    if isinstance(batch, Mapping):
        items = {key: to_device(value, device) for key, value in batch.items()}
        return items if type(batch) is dict else type(batch)(items)  # type: ignore[call-arg]
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {f.name: to_device(getattr(batch, f.name), device) for f in dataclasses.fields(batch)}
        return dataclasses.replace(batch, **changes)
    return batch


def batch_size_of(batch: Any) -> int:
    """Samples in ``batch``: the first dimension of its first tensor (1 when it holds none)."""
    if type(batch) is tuple and batch and isinstance(batch[0], Tensor) and batch[0].ndim:
        return int(batch[0].shape[0])  # the (x, y) fast path
    tensor = _first_tensor(batch)
    return int(tensor.shape[0]) if tensor is not None and tensor.ndim else 1


def _first_tensor(batch: Any) -> Tensor | None:
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, Mapping):
        items: Iterable[Any] = batch.values()
    elif isinstance(batch, tuple | list):
        items = batch
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        items = (getattr(batch, f.name) for f in dataclasses.fields(batch))
    else:
        return None
    return next((t for item in items if (t := _first_tensor(item)) is not None), None)


def is_pair(batch: Any) -> bool:
    """An ``(x, y)`` batch: a tuple or list of two tensors."""
    return isinstance(batch, tuple | list) and len(batch) == 2 and all(isinstance(t, Tensor) for t in batch)


def supervised_loss(out: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy for integer targets (class scores in the last dimension, or in dimension 1
    as torch's own layout), mean squared error for float targets (``(N, 1)`` outputs match
    ``(N,)`` targets)."""
    out = out.float()
    if y.is_floating_point():
        shaped = out.reshape(y.shape) if out.numel() == y.numel() else out
        return functional.mse_loss(shaped, y, reduction=reduction)
    if out.ndim > 2 and out.ndim == y.ndim + 1 and out.shape[:-1] == y.shape:  # (B, T, classes)
        return functional.cross_entropy(out.flatten(0, -2), y.flatten(), reduction=reduction)
    return functional.cross_entropy(out, y, reduction=reduction)


def default_loss(model: nn.Module, batch: Any) -> Tensor:
    """The loss of ``batch`` when the user gives no ``loss_fn`` (see the module docs)."""
    if isinstance(batch, Mapping):
        return output_loss(model(**batch), batch)
    if is_pair(batch):
        x, y = batch
        out = model(x)
        return supervised_loss(out, y) if isinstance(out, Tensor) else output_loss(out, batch)
    return output_loss(model(batch), batch) if isinstance(batch, Tensor) else _unreadable(batch)


def output_loss(out: Any, batch: Any) -> Tensor:
    """``out.loss`` or ``out["loss"]``: the loss a model computed itself."""
    loss = getattr(out, "loss", None)
    if loss is None and isinstance(out, Mapping):
        loss = out.get("loss")
    if not isinstance(loss, Tensor):
        raise LrlabError(
            f"the model's output ({type(out).__name__}) has no loss for a batch of {describe(batch)}; "
            f"the default loss reads {READABLE}. Pass loss_fn=lambda model, batch: … (a scalar tensor)."
        )
    return loss


def _unreadable(batch: Any) -> Tensor:
    raise LrlabError(
        f"the default loss cannot read a batch of {describe(batch)}; it reads {READABLE}. "
        "Pass loss_fn=lambda model, batch: … (a scalar tensor)."
    )


def describe(batch: Any) -> str:
    """A batch's structure in words: ``tuple of 3``, ``dict with keys ['input_ids', …]``."""
    if isinstance(batch, Mapping):
        keys = list(batch)
        return f"{type(batch).__name__} with keys {keys[:6]}" + (" …" if len(keys) > 6 else "")
    if isinstance(batch, tuple | list):
        return f"{type(batch).__name__} of {len(batch)}"
    return type(batch).__name__


def checked_loss(loss: Any) -> Tensor:
    """``loss`` when it is a scalar tensor that autograd can follow, else the error that says so."""
    if not isinstance(loss, Tensor):
        raise invalid("loss_fn's result", "a scalar tensor", _kind(loss), "Return loss, not loss.item().")
    if loss.numel() != 1:
        shape = tuple(loss.shape)
        raise LrlabError(
            f"loss_fn's result must be a scalar tensor, got a tensor of shape {shape}; reduce it "
            "(e.g. loss.mean())."
        )
    if not loss.requires_grad:
        raise LrlabError(
            "loss_fn's result does not require grad: it was computed without the model's "
            "parameters (detached, or under torch.no_grad())."
        )
    return loss


def numbers(scores: Any, source: str = "evaluate") -> dict[str, float]:
    """``scores`` as ``{name: float}``: numbers and one-element tensors, names without ``val_``."""
    if not isinstance(scores, Mapping) or not scores:
        raise invalid(f"{source}'s result", "a non-empty dict of numbers like {'loss': 0.4}", _kind(scores))
    values: dict[str, float] = {}
    for key, value in scores.items():
        number = value.item() if isinstance(value, Tensor) and value.numel() == 1 else value
        if not isinstance(key, str) or isinstance(number, bool) or not isinstance(number, int | float):
            raise LrlabError(f"{source}'s result must map names to numbers, got {key!r}: {_kind(value)}.")
        values[key.removeprefix("val_")] = float(number)
    return values


def as_task(
    data: Any,
    *,
    val: Iterable[Any] | None = None,
    loss_fn: LossFn | None = None,
    evaluate: Evaluate | None = None,
    steps_per_epoch: int | None = None,
) -> Data | Task:
    """What ``fit`` and ``find_lr`` were given as a :class:`Data` record or a :class:`Task`: a
    ``Task`` as is, an iterable of batches as ``Task(data, val, loss_fn, evaluate, …)``."""
    given = {"val": val, "loss_fn": loss_fn, "evaluate": evaluate, "steps_per_epoch": steps_per_epoch}
    extra = [name for name, value in given.items() if value is not None]
    if isinstance(data, Data | Task) and extra:
        where = "a Data record scores itself" if isinstance(data, Data) else "the Task holds them"
        raise LrlabError(
            f"{', '.join(extra)} apply to batches you give; {where}. Pass the batches (a DataLoader, "
            "a list …) as data, or set them in the Task."
        )
    if isinstance(data, Data | Task):
        return data
    return Task(data, val=val, loss_fn=loss_fn, evaluate=evaluate, steps_per_epoch=steps_per_epoch)
