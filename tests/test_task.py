"""The task contract: a user's model, DataLoader, batches and loss through ``lrlab.find_lr`` and
``lrlab.fit`` — structures, default losses, user evaluation, exact restore and resume, bad input."""

from __future__ import annotations

import random
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import lrlab
from lrlab import LrlabError, Task
from lrlab.finder import Sweep, SweepConfig
from lrlab.task import batch_size_of, default_loss, to_device
from lrlab.train import Checkpoint, EarlyStopping, FitConfig, MetricsCsv

SHAKESPEARE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "tinyshakespeare" / "input.txt"
)


class DictDataset(Dataset[dict[str, Tensor]]):
    """Samples as dicts: ``{"features": x, "target": y}``."""

    def __init__(self, n: int = 384, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 12, generator=generator)
        noise = 0.7 * torch.randn(n, generator=generator)  # about 20% of the labels disagree with x
        self.y = (self.x[:, :3].sum(dim=1) + noise > 0).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"features": self.x[index], "target": self.y[index]}


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))


def dict_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    return functional.cross_entropy(model(batch["features"]), batch["target"])


def cpu(**settings: Any) -> FitConfig:
    return FitConfig(device="cpu", quiet=True, **settings)


def rng_states() -> tuple[Any, ...]:
    return torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()


def same_state(a: Any, b: Any) -> bool:
    """Equal nested state dicts, tensors bit for bit."""
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_restored(model: nn.Module, optimizer: torch.optim.Optimizer, run: Any) -> None:
    """Run ``run()`` and check that weights, buffers, optimizer state and RNG states are back."""
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    saved = {k: v.clone() if isinstance(v, Tensor) else v for k, v in optimizer_state["state"].items()}
    import copy

    optimizer_state = copy.deepcopy(optimizer_state)
    torch_rng, python_rng, numpy_rng = rng_states()
    training = model.training
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    result = run()
    assert same_state([p.grad for p in model.parameters()], grads)
    assert same_state(model.state_dict(), weights)
    assert same_state(optimizer.state_dict(), optimizer_state) and saved is not None
    after = rng_states()
    assert torch.equal(after[0], torch_rng) and after[1] == python_rng and np.array_equal(after[2], numpy_rng)
    assert model.training == training
    return result


# --- 1. a plain module with batch norm, a DataLoader of dict batches, a custom loss ------------


def test_range_test_on_a_dataloader_of_dict_batches_restores_everything_bit_for_bit() -> None:
    model = bn_net()
    loader = DataLoader(DictDataset(), batch_size=32, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    dict_loss(model, next(iter(loader))).backward()
    optimizer.step()  # momentum buffers exist, and must come back too
    assert optimizer.state_dict()["state"]
    result = assert_restored(
        model,
        optimizer,
        lambda: lrlab.find_lr(model, loader, optimizer, loss_fn=dict_loss, config=SweepConfig(device="cpu")),
    )
    assert len(result.losses) > 20 and all(np.isfinite(result.losses[:20]))
    assert result.suggested_lr is not None and 1e-4 < result.suggested_lr < 10, result.suggestion.reason


def test_fit_on_a_dataloader_with_a_user_evaluation_that_early_stopping_monitors(tmp_path: Path) -> None:
    data = DictDataset()
    val = DataLoader(DictDataset(128, seed=1), batch_size=64)

    def evaluate(model: nn.Module) -> dict[str, Any]:
        assert not model.training and not torch.is_grad_enabled()
        hits = sum((model(b["features"]).argmax(1) == b["target"]).sum() for b in val)
        return {"hit_rate": hits / 128, "batches": 2}

    model = bn_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    result = lrlab.fit(
        model,
        DataLoader(data, batch_size=32, shuffle=True),
        optimizer,
        "warmup(steps=12, start=0.1) >> cosine(steps=108)",
        loss_fn=dict_loss,
        evaluate=evaluate,
        config=cpu(epochs=10),
        callbacks=[EarlyStopping("val_hit_rate", patience=2), MetricsCsv(tmp_path)],
    )
    assert {"val_hit_rate", "val_batches", "train_loss", "samples_per_s"} <= set(result.final)
    assert result.final["val_hit_rate"] > 0.7
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "val_hit_rate" in header
    assert model.training


def test_fit_over_a_dataloader_resumes_bit_for_bit(tmp_path: Path) -> None:
    def run(directory: Path, epochs: int, resume: bool = False) -> nn.Module:
        model = bn_net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = DataLoader(DictDataset(), batch_size=32, shuffle=True)  # its order draws from torch's RNG
        lrlab.fit(
            model, loader, optimizer, "cosine(steps=60)", loss_fn=dict_loss, config=cpu(epochs=epochs),
            callbacks=[Checkpoint(directory, monitor="train_loss")], run_dir=directory, resume=resume,
        )  # fmt: skip
        return model

    straight = run(tmp_path / "straight", 5)
    run(tmp_path / "resumed", 2)
    torch.manual_seed(999)
    resumed = run(tmp_path / "resumed", 5, resume=True)
    assert same_state(resumed.state_dict(), straight.state_dict())


# --- 2. a Hugging Face causal LM from a config, on tinyshakespeare ----------------------------


def character_batches(text: str, context: int, batch: int, seed: int) -> Iterator[dict[str, Tensor]]:
    """Endless random windows of ``text`` as HF batches: input ids with labels (shifted inside the model)."""
    vocabulary = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([vocabulary[c] for c in text])
    generator = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, len(ids) - context, (batch,), generator=generator)
        window = torch.stack([ids[s : s + context] for s in starts.tolist()])
        yield {"input_ids": window, "labels": window}


@pytest.fixture(scope="module")
def shakespeare() -> str:
    if not SHAKESPEARE.is_file():
        pytest.skip(f"{SHAKESPEARE} is absent (the shared datasets folder holds tinyshakespeare)")
    return SHAKESPEARE.read_text(encoding="utf-8")[:200_000]


def test_a_hugging_face_causal_lm_takes_the_range_test_and_fits(shakespeare: str) -> None:
    transformers = pytest.importorskip("transformers")
    vocabulary = len(set(shakespeare))
    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=2, n_positions=32, vocab_size=vocabulary, resid_pdrop=0.1
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    batches = character_batches(shakespeare, 32, 8, seed=0)
    sweep = Sweep(1e-5, 1.0, steps=60)
    result = assert_restored(
        model,
        optimizer,
        lambda: lrlab.find_lr(
            model, batches, optimizer, steps_per_epoch=20, sweep=sweep, config=SweepConfig(device="cpu")
        ),
    )
    assert np.isfinite(result.losses[0]) and abs(result.losses[0] - np.log(vocabulary)) < 1.0
    assert result.suggested_lr is not None or "no reliable suggestion" in result.suggestion.reason
    val = [next(character_batches(shakespeare, 32, 16, seed=1)) for _ in range(2)]
    fitted = lrlab.fit(
        model, batches, optimizer, "warmup(steps=5, start=0.1) >> cosine(steps=15)", val=val,
        steps_per_epoch=10, config=cpu(epochs=2),
    )  # fmt: skip
    assert fitted.steps == 20 and [row["epoch"] for row in fitted.history] == [1.0, 2.0]
    assert fitted.final["val_loss"] < np.log(vocabulary)  # learned something in 20 steps
    assert "val_acc" not in fitted.final  # dict batches: the model's own loss, no accuracy


# --- batches of any structure ------------------------------------------------------------------

Pair = namedtuple("Pair", ["x", "y"])


@dataclass
class Sample:
    x: Tensor
    y: Tensor
    note: str


def test_batches_of_any_structure_move_to_the_device_as_they_are() -> None:
    device = torch.device("cpu")
    batch = {"a": [torch.ones(3), (torch.zeros(3), "text")], "b": Pair(torch.ones(3), torch.zeros(3))}
    moved = to_device(batch, device)
    assert isinstance(moved["b"], Pair) and isinstance(moved["a"][1], tuple) and moved["a"][1][1] == "text"
    sample = to_device(Sample(torch.ones(5, 2), torch.zeros(5), "n"), device)
    assert isinstance(sample, Sample) and sample.note == "n"
    assert (
        batch_size_of(sample) == 5 and batch_size_of({"k": [torch.ones(7)]}) == 7 and batch_size_of("x") == 1
    )


def test_the_default_loss_reads_pairs_dicts_and_outputs_with_a_loss() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.allclose(default_loss(linear, (x, y)), functional.cross_entropy(linear(x), y))
    regression = nn.Linear(4, 1)
    target = torch.randn(6)
    assert torch.allclose(
        default_loss(regression, [x, target]), functional.mse_loss(regression(x).squeeze(1), target)
    )

    class Sequence(nn.Module):  # (batch, time, classes) scores against (batch, time) targets
        def forward(self, x: Tensor) -> Tensor:
            return x.unsqueeze(1).repeat(1, 5, 1)[..., :3]

    tokens = torch.zeros(6, 5, dtype=torch.long)
    assert default_loss(Sequence(), (x, tokens)).shape == ()

    class DictOutput(nn.Module):
        def forward(self, features: Tensor) -> dict[str, Tensor]:
            return {"loss": features.sum()}

    assert default_loss(DictOutput(), {"features": torch.ones(2)}).item() == 2.0


def test_an_iterable_dataset_and_a_list_of_tuples_train() -> None:
    class Stream(IterableDataset[tuple[Tensor, Tensor]]):
        def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
            generator = torch.Generator().manual_seed(0)
            while True:
                x = torch.randn(16, 4, generator=generator)
                yield x, (x[:, 0] > 0).long()

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    result = lrlab.fit(
        model, DataLoader(Stream(), batch_size=None), optimizer, steps_per_epoch=7, config=cpu(epochs=3)
    )
    assert result.steps == 21
    pairs = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(5)]
    result = lrlab.fit(model, pairs, optimizer, val=pairs[:2], config=cpu(epochs=2))
    assert result.steps == 10 and 0 <= result.final["val_acc"] <= 1


# --- bad input: one line that names the value and the fix ---------------------------------------


def tiny() -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Linear(4, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


PAIRS = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))] * 3


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ([], {}, r"has no batches \(len 0\)"),
        (DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0)), batch_size=4), {}, "has no batches"),
        (iter(PAIRS), {}, r"has no len\(\).*pass steps_per_epoch"),
        (iter(PAIRS), {"steps_per_epoch": 4}, r"ran out after 3 batches"),
        ([torch.randn(8, 4)] * 2, {}, r"output \(Tensor\) has no loss .* Pass loss_fn"),
        ([(torch.randn(8, 4),) * 3] * 2, {}, r"cannot read a batch of tuple of 3; .* Pass loss_fn"),
        (PAIRS, {"loss_fn": lambda m, b: m(b[0])}, r"scalar tensor, got a tensor of shape \(8, 2\)"),
        (PAIRS, {"loss_fn": lambda m, b: 1.0}, r"loss_fn's result must be a scalar tensor, got .*=1.0"),
        (PAIRS, {"loss_fn": lambda m, b: m(b[0]).sum().detach()}, "does not require grad"),
        (PAIRS, {"evaluate": lambda m: {"acc": "high"}}, r"map names to numbers, got 'acc': high"),
        (PAIRS, {"evaluate": lambda m: 0.5}, r"evaluate's result must be a non-empty dict"),
        ("text", {}, r"train must be an iterable of batches"),
        (PAIRS, {"steps_per_epoch": 0}, r"steps_per_epoch must be an integer >= 1"),
    ],
)
def test_bad_input_is_one_clear_error(data: Any, options: dict[str, Any], message: str) -> None:
    model, optimizer = tiny()
    with pytest.raises(LrlabError, match=message) as error:
        lrlab.fit(model, data, optimizer, config=cpu(epochs=1), **options)
    assert "\n" not in str(error.value)


def test_options_for_batches_are_refused_with_a_task_or_a_data_record() -> None:
    model, optimizer = tiny()
    with pytest.raises(LrlabError, match="loss_fn apply to batches you give; the Task holds them"):
        lrlab.fit(model, Task(PAIRS), optimizer, loss_fn=lambda m, b: m(b[0]).sum(), config=cpu(epochs=1))
    with pytest.raises(LrlabError, match="validation=True records the held-out loss"):
        lrlab.find_lr(model, PAIRS, optimizer, config=SweepConfig(device="cpu", validation=True))


def test_a_fit_that_fails_releases_its_run_directory(tmp_path: Path) -> None:
    calls = [0]

    def failing(model: nn.Module, batch: Any) -> Tensor:
        calls[0] += 1
        if calls[0] == 5:
            raise KeyError("label")
        return functional.cross_entropy(model(batch[0]), batch[1])

    model, optimizer = tiny()
    with pytest.raises(KeyError):
        lrlab.fit(
            model, PAIRS, optimizer, loss_fn=failing, config=cpu(epochs=3),
            callbacks=[Checkpoint(tmp_path, monitor="train_loss")], run_dir=tmp_path,
        )  # fmt: skip
    assert not (tmp_path / ".lock").exists()  # released: another process may train it now
    result = lrlab.fit(
        model, PAIRS, optimizer, config=cpu(epochs=1),
        callbacks=[Checkpoint(tmp_path, monitor="train_loss")], run_dir=tmp_path, resume=True,
    )  # fmt: skip
    assert result.steps >= 3
