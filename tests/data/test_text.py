"""``text(…)``: a character corpus as a task (vocabulary, windows, split, unknown characters, bad
files), the character transformer, and budgets in steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional

import lrlab
from lrlab import LrlabError
from lrlab.cli import main
from lrlab.config import validate
from lrlab.data.text import Windows, fixed_windows, load_corpus, text_task
from lrlab.models import build_model
from lrlab.train import FitConfig
from lrlab.train.setup import build_model_and_optimizer, load_task

SHAKESPEARE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "tinyshakespeare" / "input.txt"
)


def corpus_file(tmp_path: Path, text: str = "to be or not to be, that is the question. " * 30) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_vocabulary_comes_from_the_training_split_and_unknown_characters_share_one_id(
    tmp_path: Path,
) -> None:
    path = corpus_file(tmp_path, "abab" * 45 + "abXYab" * 2)  # X and Y only in the last 10%
    corpus = load_corpus(path, val_fraction=0.1)
    assert corpus.vocabulary == "ab" and corpus.size == 3
    assert len(corpus.train) + len(corpus.val) == 192 and len(corpus.val) == 20
    assert corpus.val.tolist().count(2) == 4  # X, Y, X, Y: the unknown id
    assert corpus.train.max().item() == 1


def test_windows_are_next_character_pairs_and_each_epoch_replays(tmp_path: Path) -> None:
    corpus = load_corpus(corpus_file(tmp_path))
    windows = Windows(corpus.train, context=16, batch_size=5, steps=4, seed=3)
    windows.set_epoch(2)
    first = list(windows)
    windows.set_epoch(0)
    other = list(windows)
    windows.set_epoch(2)
    again = list(windows)
    assert len(first) == 4 and all(x.shape == (5, 16) and y.shape == (5, 16) for x, y in first)
    assert all(torch.equal(x[:, 1:], y[:, :-1]) for x, y in first)  # y is x moved by one character
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], other[0][0])
    fixed = fixed_windows(corpus.val, 16, 1000)
    assert fixed.shape[1] == 17 and len(fixed) == len(corpus.val) - 16


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("", {}, r"training part of .* holds 0 characters, fewer than context \+ 2 = 66"),
        ("a somewhat longer text", {"context": 8}, "validation part of .* holds 3 characters"),
        (None, {}, "no file"),
        (b"\xff\xfe bad bytes", {}, "is not UTF-8 text"),
        ("abc" * 100, {"context": 0}, "context must be an integer >= 1"),
        ("abc" * 100, {"val_fraction": 0.0}, r"val_fraction must be a number in \(0, 1\)"),
    ],
)
def test_bad_text_files_and_options_are_one_clear_error(
    tmp_path: Path, content: str | bytes | None, options: dict[str, object], message: str
) -> None:
    path = tmp_path / "corpus.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LrlabError, match=message):
        text_task(str(path), **options)  # type: ignore[arg-type]


def test_a_folder_and_unknown_options_in_an_experiment_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match="is a folder"):
        text_task(str(tmp_path))
    experiment = validate({"task": {"dataset": f"text(path='{corpus_file(tmp_path)}', width=3)"}})
    with pytest.raises(LrlabError, match="text has no option 'width'; valid options: path, context"):
        load_task(experiment)


def test_the_char_transformer_overfits_one_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    corpus = load_corpus(corpus_file(tmp_path))
    model = build_model("char-transformer(layers=2, heads=2, width=32)", (16,), corpus.size)
    x, y = next(iter(Windows(corpus.train, 16, 4, 1, seed=0)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first is not None and first > 2.0 and loss.item() < 0.2
    assert model.head.weight is model.tokens.weight  # tied embeddings
    with pytest.raises(LrlabError, match="exceed its context=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("char-transformer(width=30, heads=4)", "width must be a multiple of heads=4"),
        ("char-transformer(context=8)", r"context must be an integer >= the windows' length 16"),
    ],
)
def test_bad_transformer_settings_are_refused(spec: str, message: str) -> None:
    with pytest.raises(LrlabError, match=message):
        build_model(spec, (16,), 10)
    with pytest.raises(LrlabError, match="reads windows of character ids"):
        build_model("char-transformer", (1, 8, 8), 10)


def test_a_budget_in_steps_ends_mid_epoch_and_sizes_the_epochs(tmp_path: Path) -> None:
    experiment = validate(
        {
            "task": {"dataset": f"text(path='{corpus_file(tmp_path)}', context=16, steps_per_epoch=10)",
                     "model": "char-transformer(layers=1, heads=2, width=16)"},
            "train": {"steps": 25, "batch_size": 4, "device": "cpu"},
            "optimizer": {"name": "adamw", "lr": 1e-3},
        }
    )  # fmt: skip
    task = load_task(experiment)
    model, optimizer, _ = build_model_and_optimizer(experiment, task)
    result = lrlab.fit(
        model, task, optimizer, "cosine(steps=25)", config=FitConfig(steps=25, device="cpu", quiet=True)
    )
    assert result.steps == 25 and [row["step"] for row in result.history] == [10.0, 20.0, 25.0]
    assert {"val_loss", "val_acc", "val_bpc"} <= set(result.final)
    assert result.final["val_bpc"] == pytest.approx(result.final["val_loss"] / 0.6931471805599453)


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"{SHAKESPEARE} is absent (shared datasets)")
def test_lrlab_train_on_tinyshakespeare_with_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "shk.toml"
    toml.write_text(
        f"""schedule = "warmup(steps=5, start=0.1) >> cosine(steps=25)"
[task]
dataset = "text(path='{SHAKESPEARE}', context=32, steps_per_epoch=15, val_windows=32)"
model = "char-transformer(layers=1, heads=2, width=32)"
[train]
batch_size = 8
device = "cpu"
[optimizer]
name = "adamw"
lr = 3e-3
"""
    )
    assert main(["train", str(toml), "--steps", "30", "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 / 30" in out and "val_loss" in out
