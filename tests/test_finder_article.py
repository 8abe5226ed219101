"""The range test's article setting end to end, small: LeNet on mnist-8k with plain ``sgd()``,
batch 128. ``lrlab find-lr`` prints a ``lrlab train`` command; that command, as printed, is
accepted by ``lrlab train`` and trains (one epoch: far above chance, not diverged).
The full-length figures (10 epochs, 5 seeds) are in docs/benchmarks.md."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from lrlab.cli import main
from tests.data.conftest import MNIST_TEST_FILES, SHARED_DATASETS

MNIST = (SHARED_DATASETS / "mnist-test").resolve()


@pytest.fixture(scope="module")
def mnist_8k() -> str:
    """The dataset spec of mnist-8k; skips when the shared datasets are absent."""
    if not all((MNIST / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"real MNIST test files not found in {MNIST} (the shared datasets folder is absent)")
    images, labels = MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz"
    return f'idx(images="{images}", labels="{labels}", test_size=2000)'


def test_the_printed_command_trains_as_printed(
    mnist_8k: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    setting = ["--dataset", mnist_8k, "--model", "lenet", "--optimizer", "sgd()", "--batch-size", "128"]
    code = main(["find-lr", *setting, "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    first = out.splitlines()[0]
    assert not first.startswith("low confidence") or "leans" in first
    (line,) = [line for line in out.splitlines() if line.startswith("train with: ")]
    words = shlex.split(line.removeprefix("train with: "))
    assert words[:2] == ["lrlab", "train"] and "--schedule" in words and "--lr" in words
    code = main([*words[1:], "--device", "cpu", "--quiet", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "stop reason: finished 1 epochs" in out
    (summary,) = (tmp_path / "runs").glob("*/*/summary.json")
    record = json.loads(summary.read_text())
    assert record["stop"]["kind"] == "finished" and record["test"]["test_acc"] > 0.5  # chance: 0.1
