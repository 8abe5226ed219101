"""Batched image augmentation in plain torch: one call per batch, no per-sample Python.

Every augmentation is a callable ``(batch N×C×H×W, generator) -> batch``; the generator must
live on the batch's device, and the same generator state gives the same output. Combine them
with :class:`Compose`, or build one from a spec::

    parse_augment("random_crop(padding=4) >> flip()")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from torch import Tensor

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.spec import Call, Chain, parse_expression


class Augment(Protocol):
    """A batched augmentation."""

    def __call__(self, batch: Tensor, generator: torch.Generator) -> Tensor: ...


def _check_batch(batch: Tensor) -> None:
    if batch.ndim != 4:
        raise LrlabError(f"augmentations take a batch N×C×H×W, got shape {tuple(batch.shape)}.")


def _check_count(param: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid(param, "an integer >= 0", value)


def _shifted_windows(padded: Tensor, dy: Tensor, dx: Tensor, height: int, width: int) -> Tensor:
    """Cut a ``height``×``width`` window at offset ``(dy[i], dx[i])`` out of each padded image."""
    n, channels = padded.shape[:2]
    rows = (dy[:, None] + torch.arange(height, device=padded.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=padded.device))[:, None, None, :]
    samples = torch.arange(n, device=padded.device)[:, None, None, None]
    chans = torch.arange(channels, device=padded.device)[None, :, None, None]
    return padded[samples, chans, rows, cols]


@dataclass(frozen=True)
class RandomCrop:
    """Zero-pad each side by ``padding`` pixels, then cut a random window of the input's size."""

    padding: int = 4

    def __post_init__(self) -> None:
        _check_count("padding", self.padding)

    def __call__(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        _check_batch(batch)
        if self.padding == 0:
            return batch
        p, (n, _, height, width) = self.padding, batch.shape
        padded = F.pad(batch, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=batch.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=batch.device)
        return _shifted_windows(padded, dy, dx, height, width)


@dataclass(frozen=True)
class RandomShift:
    """Translate each image by a random whole number of pixels in ``[-max_shift, max_shift]`` on
    each axis, filling with zeros (a random crop of zero-padded images under another name)."""

    max_shift: int = 2

    def __post_init__(self) -> None:
        _check_count("max_shift", self.max_shift)

    def __call__(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        return RandomCrop(self.max_shift)(batch, generator)


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror each image left to right with probability ``p``."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, int | float) or not 0 <= self.p <= 1:
            raise invalid("p", "a number in [0, 1]", self.p)

    def __call__(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        _check_batch(batch)
        chosen = torch.rand(len(batch), generator=generator, device=batch.device) < self.p
        return torch.where(chosen[:, None, None, None], batch.flip(-1), batch)


@dataclass(frozen=True)
class Compose:
    """Apply augmentations in order, all drawing from the one generator."""

    steps: tuple[Augment, ...]

    def __call__(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        for step in self.steps:
            batch = step(batch, generator)
        return batch


AUGMENTATIONS: dict[str, type[RandomCrop] | type[RandomShift] | type[HorizontalFlip]] = {
    "random_crop": RandomCrop,
    "shift": RandomShift,
    "flip": HorizontalFlip,
}
_KEYS = {"random_crop": ("padding",), "shift": ("max_shift",), "flip": ("p",)}


def _build(call: Call) -> Augment:
    if call.name not in AUGMENTATIONS:
        raise unknown("augmentation", call.name, AUGMENTATIONS)
    keys = _KEYS[call.name]
    if len(call.args) > len(keys):
        raise LrlabError(f"{call.name}() takes at most {len(keys)} argument(s): {', '.join(keys)}.")
    options = dict(zip(keys, call.args, strict=False))
    for key, value in call.kwargs:
        if key not in keys or key in options:
            raise LrlabError(f"{call.name}() got a bad or repeated option {key!r}; valid: {', '.join(keys)}.")
        options[key] = value
    return AUGMENTATIONS[call.name](**options)  # type: ignore[arg-type]


def parse_augment(spec: str) -> Augment:
    """Build an augmentation from a spec such as ``"random_crop(padding=4) >> flip(p=0.5)"``."""
    expression = parse_expression(spec)
    calls = expression.parts if isinstance(expression, Chain) else (expression,)
    steps = tuple(_build(call) for call in calls)
    return steps[0] if len(steps) == 1 else Compose(steps)
