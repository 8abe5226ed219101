"""What a person watching sees: a line per epoch in a log (not nothing), a live bar with one line
of history per epoch on a terminal, the range test's steps, and a comparison's runs as they
train and finish."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lrlab.train.logging import Progress

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def lrlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command in a fresh process, stdout and stderr to pipes (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "lrlab", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_log_gets_one_line_per_update() -> None:
    stream = io.StringIO()
    with Progress(30, quiet=False, stream=stream) as progress:
        for epoch in (1, 2, 3):
            progress.update(epoch * 10, f"epoch {epoch} · val_loss 0.{epoch}")
    assert stream.getvalue().splitlines() == [
        "training: step 10/30 · epoch 1 · val_loss 0.1",
        "training: step 20/30 · epoch 2 · val_loss 0.2",
        "training: step 30/30 · epoch 3 · val_loss 0.3",
    ]


def test_a_log_of_many_steps_gets_about_every_tenth_and_the_last() -> None:
    stream = io.StringIO()
    with Progress(100, quiet=False, stream=stream, description="range test", every=10) as progress:
        for step in range(1, 101):
            progress.update(step)
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-1] == "range test: step 100/100"


def test_quiet_shows_nothing() -> None:
    stream = io.StringIO()
    with Progress(10, quiet=True, stream=stream) as progress:
        progress.update(10, "epoch 1")
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_bar_that_leaves_a_line_per_epoch() -> None:
    stream = io.StringIO()
    with Progress(20, quiet=False, stream=stream, terminal=True) as progress:
        progress.update(10, "epoch 1 · val_loss 0.5")
        progress.update(20, "epoch 2 · val_loss 0.25")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "training: step 10/20 · epoch 1 · val_loss 0.5\n" in text
    assert "training: step 20/20 · epoch 2 · val_loss 0.25\n" in text
    assert "━" in text  # the bar was drawn (and cleared at the end: it is transient)


def test_lrlab_train_into_a_log_prints_one_line_per_epoch(tmp_path: Path) -> None:
    result = lrlab("train", "--epochs", "3", "--device", "cpu", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    epochs = [line for line in result.stderr.splitlines() if line.startswith("training: step")]
    assert [re.search(r"epoch (\d+)", line)[1] for line in epochs] == ["1", "2", "3"]  # type: ignore[index]
    assert all("val_loss" in line for line in epochs)


def test_lrlab_find_lr_shows_the_steps_of_the_range_test(tmp_path: Path) -> None:
    result = lrlab(
        "find-lr", "--steps", "40", "--device", "cpu", "--out", str(tmp_path / "runs"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("range test: step")]
    assert 4 <= len(steps) <= 12 and steps[-1] == "range test: step 40/40"
    quiet = lrlab("find-lr", "--steps", "20", "--quiet", "--out", str(tmp_path / "q"), cwd=tmp_path)
    assert quiet.returncode == 0 and "range test: step" not in quiet.stderr


def test_the_range_test_tells_its_hook_of_every_step() -> None:
    import torch

    from lrlab.data import load_dataset
    from lrlab.finder import Sweep, SweepConfig, range_test

    data = load_dataset("digits")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls: list[tuple[int, int]] = []
    range_test(
        model, data, optimizer, sweep=Sweep(1e-4, 1.0, 12), config=SweepConfig(batch_size=64), repeats=2,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls[0] == (1, 24) and calls[-1] == (24, 24)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def _plan(directory: Path, pending: list[Any]) -> Any:
    return SimpleNamespace(
        lowered=None, specs=pending, pending=pending, done={}, stale={}, workers=1, directory=directory
    )


def _spec(variant: str, index: int) -> Any:
    epochs = SimpleNamespace(train=SimpleNamespace(epochs=4))
    return SimpleNamespace(
        variant=variant, index=index, experiment=epochs, folder=Path("runs") / variant / f"seed{index}"
    )


def test_compare_shows_each_epoch_of_the_runs_training(tmp_path: Path) -> None:
    from lrlab.commands.compare import _RunLines

    stream = io.StringIO()
    spec = _spec("cosine", 0)
    progress = _RunLines(quiet=False, stream=stream, terminal=False)
    progress.POLL_S = 3600.0  # the test looks itself
    progress.start(_plan(tmp_path, [spec]))
    try:
        metrics = tmp_path / spec.folder / "metrics.csv"
        metrics.parent.mkdir(parents=True)
        metrics.write_text(
            "epoch,train_loss,val_loss,val_acc\n1,2.0,1.5,0.4\n2,1.0,0.9,0.7\n3,0.5", encoding="utf-8"
        )
        progress.poll()
        progress.poll()  # nothing new: nothing said
    finally:
        progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[1:] == ["lrlab:   cosine seed0: epoch 2/4 · train_loss 1 · val_loss 0.9 · val_acc 0.7"]


def test_lrlab_compare_prints_a_line_per_finished_run(tmp_path: Path) -> None:
    result = lrlab(
        "compare",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--no-report",
        "--out",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    done = [line for line in result.stderr.splitlines() if re.match(r"lrlab: \[\d/4\]", line)]
    assert len(done) == 4
    assert "val_acc at best val_loss" in result.stdout and "test_acc" in result.stdout
