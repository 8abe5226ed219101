"""Data-parallel training under torchrun (gloo on loopback, real processes) and its pieces.

* 2 processes × batch 64 against 1 process × batch 128, same seed, LeNet on mnist-8k: epoch 1's
  validation loss agrees within 1e-4 (relative), the final one (epoch 2) within 5 %: the runs
  differ only in the order of float sums (the gradient is averaged over two halves instead of
  summed over the batch), which training amplifies. One run directory is written.
* SIGKILL one process mid-run: the job stops with one clear line naming ``--resume``; resuming
  ends bitwise equal to an uninterrupted 2-process run.
* 8 processes: ``config.json`` records the world and the resolved LR scaling.
* ``lrlab find-lr`` under torchrun: 2 × 64 give the curve and the suggestion of 1 × 128.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch

from lrlab.config import Experiment, apply_overrides
from lrlab.data import Batches
from lrlab.data.batches import batch_count
from lrlab.distributed import World, without_option
from lrlab.errors import LrlabError
from lrlab.scaling import resolve
from lrlab.train.run import lr_scaling, run_name
from tests.data.conftest import MNIST_TEST_FILES, SHARED_DATASETS

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="torchrun workers and SIGKILL are POSIX here")


@pytest.fixture(scope="module")
def mnist_8k() -> str:
    """The dataset spec of mnist-8k (the real MNIST test set: 8,000 train, 2,000 test)."""
    folder = (SHARED_DATASETS / "mnist-test").resolve()
    if not all((folder / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"real MNIST test files not found in {folder} (the shared datasets folder is absent)")
    images, labels = (folder / name for name in MNIST_TEST_FILES)
    return f'idx(images="{images}", labels="{labels}", test_size=2000)'


def lrlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m lrlab ARGS`` in a fresh process (one torch thread per process)."""
    return subprocess.run(
        [sys.executable, "-m", "lrlab", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=600,
        check=False,
    )


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def only_run(out: Path) -> Path:
    (folder,) = [path.parent for path in out.glob("*/*/config.json")]
    return folder


# ---------------------------------------------------------------- the pieces, in one process


@pytest.mark.parametrize("samples", [256, 250, 258, 131])
def test_the_processes_shares_make_up_the_single_process_batches(samples: int) -> None:
    x, y = torch.arange(samples).float().unsqueeze(1), torch.arange(samples)
    single = Batches(x, y, 128, seed=3)
    shards = [Batches(x, y, 64, seed=3, rank=rank, world_size=2) for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(single) == batch_count(samples, 64, 2)
    for number, (whole, *parts) in enumerate(
        zip(single.epoch(1), *(shard.epoch(1) for shard in shards), strict=True)
    ):
        assert torch.equal(torch.cat([part_y for _, part_y in parts]), whole[1])
        # the mean over processes of each one's weighted mean is the whole batch's mean
        weighted = [
            part_y.double().mean() * shard.weight(number)
            for (_, part_y), shard in zip(parts, shards, strict=True)
        ]
        assert float(sum(weighted)) / 2 == pytest.approx(whole[1].double().mean().item())


def test_a_last_batch_smaller_than_the_world_is_left_out() -> None:
    x, y = torch.zeros(9, 1), torch.arange(9)
    shards = [Batches(x, y, 2, rank=rank, world_size=4) for rank in range(4)]
    assert len(shards[0]) == 1  # 8 samples in one batch; the ninth alone cannot be shared by 4
    assert sum(len(next(iter(shard.epoch(0)))[1]) for shard in shards) == 8


def test_bad_ranks_are_refused() -> None:
    with pytest.raises(LrlabError, match="rank"):
        Batches(torch.zeros(4, 1), torch.zeros(4), 2, rank=2, world_size=2)


def test_one_process_world_collectives_are_the_identity() -> None:
    world = World()
    assert world.main and not world.parallel
    assert world.mean(2.5) == 2.5 and world.any(True) and not world.any(False)
    assert world.share({"a": 1}) == {"a": 1}
    assert torch.equal(world.sum(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))
    assert world.on_main(lambda: 7) == 7
    with pytest.raises(LrlabError, match="boom"):
        world.on_main(lambda: (_ for _ in ()).throw(LrlabError("boom")))


def test_the_launcher_passes_the_command_on_without_nproc() -> None:
    argv = ["train", "--nproc", "2", "--epochs", "1", "--nproc=4", "--quiet"]
    assert without_option(argv, "--nproc") == ["train", "--epochs", "1", "--quiet"]


@pytest.mark.parametrize(
    ("rule", "world_size", "lr", "warmup_steps", "start"),
    [
        ("linear", 1, 0.1, 0, 1.0),
        ("linear", 2, 0.2, 50, 0.5),
        ("linear", 4, 0.4, 50, 0.25),
        ("linear", 8, 0.8, 50, 0.125),
        ("sqrt", 4, 0.2, 50, 0.5),
        ("none", 8, 0.1, 0, 1.0),
    ],
)
def test_lr_scaling_for_1_2_4_8_processes(
    rule: str, world_size: int, lr: float, warmup_steps: int, start: float
) -> None:
    scaled = resolve(rule, lr=0.1, batch_size=64, world_size=world_size, steps_per_epoch=10, epochs=30)
    assert scaled.global_batch_size == 64 * world_size
    assert scaled.lr == pytest.approx(lr) and scaled.factor == pytest.approx(lr / 0.1)
    assert scaled.warmup_steps == warmup_steps and scaled.warmup_start == pytest.approx(start)
    ramp = scaled.ramp()
    if warmup_steps:
        assert ramp is not None
        assert ramp.at(0) == pytest.approx(start) and ramp.at(warmup_steps) == 1.0
        assert ramp.at(warmup_steps / 2) == pytest.approx((start + 1) / 2)  # linear, per step
    else:
        assert ramp is None


def test_the_warmup_is_cut_to_the_run_and_a_reference_can_be_given() -> None:
    scaled = resolve(
        "linear", lr=0.1, batch_size=32, world_size=2, steps_per_epoch=10, epochs=3, reference=256
    )
    assert scaled.factor == 0.25 and scaled.warmup_steps == 0  # the LR went down: no warmup
    longer = resolve("linear", lr=0.1, batch_size=32, world_size=8, steps_per_epoch=10, epochs=3)
    assert longer.warmup_steps == 30 and longer.warmup_epochs == 3.0
    with pytest.raises(LrlabError, match="lr_scaling"):
        resolve("cubic", lr=0.1, batch_size=32, world_size=2, steps_per_epoch=10, epochs=3)


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_the_experiment_resolves_its_scaling_for_each_world(world_size: int) -> None:
    experiment = apply_overrides(
        Experiment(), batch_size=100, lr=0.05, epochs=10, lr_scaling="linear", scaling_warmup_epochs=2.0
    )
    steps_per_epoch = math.ceil(1000 / (100 * world_size))
    scaled = lr_scaling(experiment, World(0, world_size), steps_per_epoch)
    assert scaled.lr == pytest.approx(0.05 * world_size)
    assert scaled.warmup_steps == (2 * steps_per_epoch if world_size > 1 else 0)
    names = {run_name(experiment, size) for size in (1, 2, 4, 8)}
    assert len(names) == 4 and run_name(experiment, world_size).count("-x") == (world_size > 1)


# ---------------------------------------------------------------- real processes under torchrun


def lenet_task(mnist_8k: str) -> list[str]:
    """LeNet on mnist-8k with SGD(momentum 0.9) on the CPU, as flags."""
    return ["--dataset", mnist_8k, "--model", "lenet", "--optimizer", "sgd(momentum=0.9)", "--device", "cpu"]


def task(mnist_8k: str, out: Path, *extra: str) -> list[str]:
    return ["train", *lenet_task(mnist_8k), "--lr", "0.03", "--out", str(out), "--quiet", *extra]


@posix_only
def test_two_processes_match_one_process_with_the_same_global_batch(mnist_8k: str, tmp_path: Path) -> None:
    parallel = lrlab(*task(mnist_8k, tmp_path / "ddp", "--epochs", "2", "--batch-size", "64", "--nproc", "2"))
    assert parallel.returncode == 0, parallel.stderr[-3000:]
    single = lrlab(*task(mnist_8k, tmp_path / "one", "--epochs", "2", "--batch-size", "128"))
    assert single.returncode == 0, single.stderr[-3000:]
    assert len(list((tmp_path / "ddp").glob("*/*"))) == 1  # rank 1 wrote nothing of its own
    ddp_dir, one_dir = only_run(tmp_path / "ddp"), only_run(tmp_path / "one")
    ddp_rows, one_rows = metrics(ddp_dir), metrics(one_dir)
    assert [row["step"] for row in ddp_rows] == [row["step"] for row in one_rows] == ["57", "114"]
    first = [float(rows[0]["val_loss"]) for rows in (ddp_rows, one_rows)]
    final = [float(rows[-1]["val_loss"]) for rows in (ddp_rows, one_rows)]
    assert first[0] == pytest.approx(first[1], rel=1e-4)
    assert final[0] == pytest.approx(final[1], rel=0.05)
    record = json.loads((ddp_dir / "config.json").read_text(encoding="utf-8"))
    assert record["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "batch_size_per_process": 64,
        "global_batch_size": 128,
    }
    assert "-x2-" in ddp_dir.name


def rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the torchrun worker with ``LOCAL_RANK=rank`` started with ``LRLAB_TEST_MARKER``."""
    wanted = {f"LRLAB_TEST_MARKER={marker}".encode(), f"LOCAL_RANK={rank}".encode()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ:
            return int(entry.name)
    return None


def wait_for_epochs(out: Path, epochs: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        found = list(out.glob("*/*/metrics.csv"))
        if found and len(found[0].read_text(encoding="utf-8").splitlines()) > epochs:
            return
        time.sleep(0.1)
    pytest.fail(f"the run did not reach {epochs} epochs (exit code {process.poll()})")


@posix_only
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc")
def test_a_killed_process_stops_the_job_and_resume_ends_as_an_uninterrupted_run(
    mnist_8k: str, tmp_path: Path
) -> None:
    args = task(mnist_8k, tmp_path / "killed", "--epochs", "5", "--batch-size", "64", "--nproc", "2")
    marker = uuid.uuid4().hex
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LRLAB_TEST_MARKER": marker}
    process = subprocess.Popen(
        [sys.executable, "-m", "lrlab", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_epochs(tmp_path / "killed", 2, process)
        pid = rank_pid(marker, 1)
        assert pid is not None, "no process with LOCAL_RANK=1"
        os.kill(pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("lrlab: error: the 2-process run stopped") and "--resume" in last
    run_dir = only_run(tmp_path / "killed")
    assert not (run_dir / "summary.json").exists()
    resumed = lrlab(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = lrlab(
        *task(mnist_8k, tmp_path / "straight", "--epochs", "5", "--batch-size", "64", "--nproc", "2")
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert untimed(metrics(run_dir)) == untimed(metrics(only_run(tmp_path / "straight")))  # bitwise


def untimed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {key: value for key, value in row.items() if key not in {"time_s", "samples_per_s"}} for row in rows
    ]


@posix_only
def test_eight_processes_record_the_world_and_the_scaled_lr(tmp_path: Path) -> None:
    result = lrlab(
        "train",
        "--dataset",
        "digits",
        "--model",
        "mlp(widths=[16])",
        "--lr",
        "0.05",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--lr-scaling",
        "linear",
        "--scaling-warmup-epochs",
        "0.5",
        "--device",
        "cpu",
        "--nproc",
        "8",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "8 process(es): lr 0.05 → 0.4 (×8, linear: global batch 128 / reference 16)" in result.stderr
    record: dict[str, Any] = json.loads((only_run(tmp_path) / "config.json").read_text(encoding="utf-8"))
    assert record["distributed"]["world_size"] == 8 and record["distributed"]["global_batch_size"] == 128
    scaling = record["lr_scaling"]
    steps_per_epoch = batch_count(record["data"]["train"], 16, 8)
    assert scaling["lr"] == pytest.approx(0.4) and scaling["warmup_start"] == pytest.approx(0.125)
    assert scaling["warmup_steps"] == round(0.5 * steps_per_epoch)


@posix_only
def test_the_range_test_under_torchrun_suggests_for_the_global_batch(mnist_8k: str, tmp_path: Path) -> None:
    common = lenet_task(mnist_8k)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    output = ["--format", "json", "--out", str(tmp_path / "ddp")]
    parallel = subprocess.run(
        [*torchrun, "-m", "lrlab", "find-lr", *common, "--batch-size", "64", *output],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
        check=False,
    )
    assert parallel.returncode == 0, parallel.stderr[-3000:]
    single = lrlab(
        "find-lr", *common, "--batch-size", "128", "--format", "json", "--out", str(tmp_path / "one")
    )
    assert single.returncode == 0, single.stderr[-3000:]
    (ddp,) = [
        json.loads(line) for line in parallel.stdout.splitlines() if line.startswith("{")
    ]  # rank 0 only
    one = json.loads(single.stdout)
    assert ddp["processes"] == 2 and ddp["command"].endswith("--nproc 2")
    assert ddp["suggested_lr"] == pytest.approx(one["suggested_lr"], rel=0.2)  # within one rung
    assert ddp["schedule"] == one["schedule"]  # sized for the same number of global steps
    (ddp_steps,) = (tmp_path / "ddp").glob("*/*/steps.csv")
    (one_steps,) = (tmp_path / "one").glob("*/*/steps.csv")
    losses = [[float(row["loss"]) for row in csv.DictReader(path.open())] for path in (ddp_steps, one_steps)]
    assert losses[0][:40] == pytest.approx(losses[1][:40], rel=1e-4)  # the same batches, to float order
