"""Batched augmentations: shapes, exact flips, zero padding, reproducibility, specs."""

from __future__ import annotations

import pytest
import torch

from lrlab.data import Augment, Compose, HorizontalFlip, RandomCrop, RandomShift, parse_augment
from lrlab.errors import LrlabError


def batch(n: int = 32, channels: int = 3, size: int = 8) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) + 1.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "augment", [RandomCrop(2), RandomShift(1), HorizontalFlip(), Compose((RandomCrop(), HorizontalFlip()))]
)
def test_shape_dtype_and_reproducibility(augment: Augment) -> None:
    x = batch()
    out = augment(x, gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment(x, gen(1)))
    assert not torch.equal(out, augment(x, gen(2)))


def test_flip_is_exact() -> None:
    x = batch()
    out = HorizontalFlip(0.5)(x, gen())
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert torch.all(mirrored | kept) and mirrored.any() and kept.any()
    assert torch.equal(HorizontalFlip(1.0)(x, gen()), x.flip(-1))
    assert torch.equal(HorizontalFlip(0.0)(x, gen()), x)


def test_crop_pads_with_zeros_and_keeps_pixels() -> None:
    x = batch(n=200, channels=2, size=6)  # values in [1, 2): a zero can only come from padding
    out = RandomCrop(padding=3)(x, gen())
    assert (out == 0).any()
    for image, original in zip(out, x, strict=True):
        # Each output is the original shifted by (dy, dx) in [-3, 3]: find the shift and compare.
        padded = torch.nn.functional.pad(original, (3, 3, 3, 3))
        windows = [padded[:, i : i + 6, j : j + 6] for i in range(7) for j in range(7)]
        assert any(torch.equal(image, w) for w in windows)


def test_every_shift_occurs_and_channels_move_together() -> None:
    x = batch(n=500, channels=3, size=5)
    out = RandomShift(max_shift=1)(x, gen())
    zero_rows = (out == 0).all(dim=(1, 3))  # a padded row is zero in every channel
    assert zero_rows[:, 0].any() and zero_rows[:, -1].any() and (~zero_rows).all(1).any()
    assert torch.equal((out == 0).all(1), (out == 0).any(1))


def test_zero_padding_is_identity() -> None:
    x = batch()
    assert torch.equal(RandomCrop(0)(x, gen()), x)


def test_parse_augment() -> None:
    augment = parse_augment("random_crop(padding=4) >> flip(p=0.25)")
    assert augment == Compose((RandomCrop(4), HorizontalFlip(0.25)))
    assert parse_augment("shift(2)") == RandomShift(2)
    with pytest.raises(LrlabError, match="did you mean 'flip'"):
        parse_augment("flp()")
    with pytest.raises(LrlabError, match="valid: padding"):
        parse_augment("random_crop(pad=4)")
    with pytest.raises(LrlabError, match=r"^padding must be"):
        parse_augment("random_crop(padding=-1)")


def test_bad_arguments() -> None:
    with pytest.raises(LrlabError, match=r"^p must be"):
        HorizontalFlip(1.5)
    with pytest.raises(LrlabError, match="N×C×H×W"):
        HorizontalFlip()(torch.zeros(3, 4), gen())
