"""The in-memory batch iterator: coverage, reproducibility, resume, drop_last, devices."""

from __future__ import annotations

import pytest
import torch

from lrlab.data import Batches, HorizontalFlip
from lrlab.errors import LrlabError


def make(n: int = 10, **kwargs: object) -> Batches:
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    return Batches(x, torch.arange(n), **kwargs)  # type: ignore[arg-type]


def indices(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[int]:
    return torch.cat([y for _, y in batches]).tolist()


def test_every_index_exactly_once_per_epoch() -> None:
    loader = make(10, batch_size=3)
    assert len(loader) == 4
    for epoch in range(3):
        batches = list(loader.epoch(epoch))
        assert [len(y) for _, y in batches] == [3, 3, 3, 1]
        assert sorted(indices(batches)) == list(range(10))
        for x, y in batches:  # inputs and targets stay paired
            assert torch.equal(x[:, 0].long(), y)


def test_order_is_reproducible_per_seed_and_epoch() -> None:
    a, b = make(50, batch_size=7, seed=1), make(50, batch_size=7, seed=1)
    assert indices(list(a.epoch(2))) == indices(list(b.epoch(2)))
    assert indices(list(a.epoch(2))) != indices(list(a.epoch(3)))
    assert indices(list(a.epoch(0))) != indices(list(make(50, batch_size=7, seed=2).epoch(0)))
    # Neighbouring seeds do not replay each other's epochs one epoch apart.
    assert indices(list(a.epoch(1))) != indices(list(make(50, batch_size=7, seed=2).epoch(0)))


def test_iterating_runs_successive_epochs_and_resumes() -> None:
    loader = make(20, batch_size=6, seed=5)
    epochs = [indices(list(loader)) for _ in range(3)]
    assert epochs == [indices(list(loader.epoch(e))) for e in range(3)]
    loader.set_epoch(1)
    assert indices(list(loader)) == epochs[1]
    assert indices(list(loader.epoch(2, start=2))) == epochs[2][12:]


def test_no_shuffle_keeps_the_stored_order() -> None:
    loader = make(7, batch_size=2, shuffle=False)
    assert indices(list(loader.epoch(4))) == list(range(7))


def test_drop_last() -> None:
    loader = make(10, batch_size=3, drop_last=True)
    assert len(loader) == 3
    batches = list(loader.epoch(0))
    assert [len(y) for _, y in batches] == [3, 3, 3]
    assert len(set(indices(batches))) == 9
    with pytest.raises(LrlabError, match="batch_size must be at most the number of samples"):
        make(2, batch_size=3, drop_last=True)


def test_one_randperm_per_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = torch.randperm

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(torch, "randperm", counting)
    loader = make(1000, batch_size=10)
    for epoch in range(3):
        assert len(list(loader.epoch(epoch))) == 100
    assert len(calls) == 3


def test_no_python_per_sample() -> None:
    # Batches are tensor indexing: tensor subclasses see one index_select per batch, never one
    # call per sample.
    seen: list[str] = []

    class Spy(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.append(getattr(func, "__name__", str(func)))
            return super().__torch_function__(func, types, args, kwargs or {})  # type: ignore[no-untyped-call]

    x = torch.zeros(1000, 4).as_subclass(Spy)
    loader = Batches(x, torch.zeros(1000), batch_size=250)
    seen.clear()
    assert len(list(loader.epoch(0))) == 4
    assert seen.count("index_select") == 4 and len(seen) < 40


def test_augmentation_is_reproducible_and_resumable() -> None:
    x = torch.arange(16 * 4, dtype=torch.float32).reshape(16, 1, 2, 2)
    loader = Batches(x, torch.arange(16), batch_size=4, seed=3, augment=HorizontalFlip(0.5))
    first = [xb for xb, _ in loader.epoch(0)]
    again = [xb for xb, _ in loader.epoch(0)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    resumed = [xb for xb, _ in loader.epoch(0, start=2)]
    assert all(torch.equal(a, b) for a, b in zip(first[2:], resumed, strict=True))
    flipped = torch.cat(first) != x[torch.cat([y for _, y in loader.epoch(0)])]
    assert flipped.any()


def test_tensors_live_on_the_requested_device() -> None:
    loader = make(8, batch_size=4, device="cpu")
    assert loader.device == torch.device("cpu")
    x, y = next(iter(loader))
    assert x.device == y.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_placement() -> None:
    loader = make(64, batch_size=16, device="cuda", augment=HorizontalFlip())
    assert loader.x.is_cuda
    for x, y in loader:
        assert x.is_cuda and y.is_cuda


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"batch_size": 0}, "batch_size"), ({"batch_size": 2, "seed": -1}, "seed")],
)
def test_bad_arguments(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(LrlabError, match=rf"^{param} must be"):
        make(4, **kwargs)


def test_bad_epoch_and_start() -> None:
    loader = make(4, batch_size=2)
    with pytest.raises(LrlabError, match=r"^start must be"):
        loader.epoch(0, start=3)
    with pytest.raises(LrlabError, match=r"^epoch must be"):
        loader.epoch(-1)
    with pytest.raises(LrlabError, match="as many samples"):
        Batches(torch.zeros(3, 1), torch.zeros(4), batch_size=2)
