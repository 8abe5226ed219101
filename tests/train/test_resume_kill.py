"""Exact resume: a run killed with SIGKILL and resumed ends bitwise equal to an uninterrupted run.

Three real processes of ``python -m lrlab train`` with the same settings: one runs to the end;
one is killed with SIGKILL once ``metrics.csv`` holds ``KILL_AFTER`` epochs; then the same
command with ``--resume`` finishes the killed run. Weights, metrics (all but the wall-time
columns) and the summary (all but wall times) must be identical, bit for bit.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 6
KILL_AFTER = 2
WALL_TIME = {"time_s", "samples_per_s", "wall_time_s", "train_time_s"}
EXPERIMENT = """
name = "resume"
schedule = "warmup(steps=20, start=0.1) >> cosine(steps=100, end=0.05)"
[task]
model = "tests.train.plugins:slow_mlp"
[train]
epochs = {epochs}
batch_size = 64
device = "cpu"
[optimizer]
name = "sgd(momentum=0.9, nesterov=true)"
lr = 0.2
[early_stopping]
enabled = true
patience = 10
[plateau]
enabled = true
patience = 1
factor = 0.5
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def command(experiment: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lrlab", "train", str(experiment), "--out", str(out), "--quiet", *extra]


def environment() -> dict[str, str]:
    # one thread: the same arithmetic in every process, and no oversubscription on small machines
    return os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_to_end(args: list[str], cwd: Path) -> None:
    done = subprocess.run(
        args, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr


def metric_rows(folder: Path) -> list[dict[str, str]]:
    path = folder / "metrics.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def kill_after_epochs(args: list[str], cwd: Path, folder: Path, epochs: int) -> int:
    """Start the run, SIGKILL it once ``epochs`` rows are in metrics.csv; return the rows kept."""
    process = subprocess.Popen(args, cwd=cwd, env=environment(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    try:
        while len(metric_rows(folder)) < epochs:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    return len(metric_rows(folder))


def comparable_rows(folder: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in WALL_TIME} for row in metric_rows(folder)]


def comparable(folder: Path) -> tuple[list[dict[str, str]], dict[str, Any]]:
    rows = comparable_rows(folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    for key in WALL_TIME:
        summary.pop(key, None)
    for part in ("best", "final"):
        summary[part] = {k: v for k, v in summary[part].items() if k not in WALL_TIME}
    return rows, summary


def only_run(out: Path) -> Path:
    (folder,) = (out / "resume").iterdir()
    return folder


def test_a_killed_run_resumes_to_the_bitwise_same_end(tmp_path: Path) -> None:
    experiment = tmp_path / "resume.toml"
    experiment.write_text(EXPERIMENT.format(epochs=EPOCHS), encoding="utf-8")
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    run_to_end(command(experiment, reference), tmp_path)
    expected = only_run(reference)

    folder = interrupted / "resume" / expected.name  # the same settings give the same directory
    kept = kill_after_epochs(command(experiment, interrupted), tmp_path, folder, KILL_AFTER)
    assert KILL_AFTER <= kept < EPOCHS
    assert not (folder / "summary.json").exists()
    assert [row["epoch"] for row in metric_rows(folder)] == [str(e) for e in range(1, kept + 1)]
    assert comparable_rows(folder) == comparable_rows(expected)[:kept]  # finished epochs are kept

    run_to_end(command(experiment, interrupted, "--resume"), tmp_path)

    assert comparable(folder) == comparable(expected)
    for name in ("checkpoint.pt", "best.pt"):
        mine = torch.load(folder / name, weights_only=True)["model"]
        theirs = torch.load(expected / name, weights_only=True)["model"]
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key].dtype == theirs[key].dtype
            assert torch.equal(mine[key], theirs[key]), f"{name}: {key} differs"
    mine_state = torch.load(folder / "checkpoint.pt", weights_only=True)["state"]
    their_state = torch.load(expected / "checkpoint.pt", weights_only=True)["state"]
    for key in ("epoch", "step", "lr_scale"):
        assert mine_state[key] == their_state[key], key
