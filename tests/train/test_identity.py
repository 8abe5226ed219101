"""A run's identity beyond its settings: data files (size + mtime) and lrlab's version. A
changed data file or another lrlab version retrains the run; unchanged ones reuse it, and the
run keeps its folder name (``--resume`` finds it)."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lrlab.train.identity as identity_module
from lrlab.compare import Plan, RunReport, compare
from lrlab.config import Experiment, validate
from lrlab.train.identity import data_files, run_identity, stale_reason
from lrlab.train.run import run_name, train


def write_idx(folder: Path, n: int = 120, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, size=(n, 4, 4), dtype=np.uint8)
    labels = (np.arange(n) % 3).astype(np.uint8)
    image_file, label_file = folder / "img.idx.gz", folder / "lbl.idx.gz"
    with gzip.open(image_file, "wb") as file:
        file.write(struct.pack(">HBB3I", 0, 8, 3, n, 4, 4) + images.tobytes())
    with gzip.open(label_file, "wb") as file:
        file.write(struct.pack(">HBBI", 0, 8, 1, n) + labels.tobytes())
    return image_file, label_file


def idx_experiment(folder: Path, **changes: Any) -> Experiment:
    image_file, label_file = folder / "img.idx.gz", folder / "lbl.idx.gz"
    data: dict[str, Any] = {
        "name": "ident",
        "task": {
            "dataset": f'idx(images="{image_file}", labels="{label_file}", test_size=20)',
            "model": "linear",
        },
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
    }
    data.update(changes)
    return validate(data)


class Recorder:
    def __init__(self) -> None:
        self.plans: list[Plan] = []

    def start(self, plan: Plan) -> None:
        self.plans.append(plan)

    def finished(self, run: RunReport) -> None:
        pass


def test_data_files_record_idx_paths_and_downloaded_files(tmp_path: Path) -> None:
    write_idx(tmp_path)
    files = data_files(idx_experiment(tmp_path))
    assert set(files) == {"images", "labels"} and all("bytes, mtime" in v for v in files.values())
    mnist = validate({"task": {"dataset": "mnist", "data_dir": str(tmp_path)}})
    assert set(data_files(mnist)) == {
        f"mnist/{name}"
        for name in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        )
    }
    assert set(data_files(mnist).values()) == {"missing"}
    assert data_files(Experiment()) == {}  # embedded digits: nothing to watch


def test_a_changed_data_file_retrains_the_comparison_run(tmp_path: Path) -> None:
    write_idx(tmp_path)
    experiment = idx_experiment(tmp_path)
    first = compare(experiment, out=tmp_path / "runs", report=False)
    recorder = Recorder()
    again = compare(experiment, out=tmp_path / "runs", report=False, progress=recorder)
    assert again.runs[0].skipped and recorder.plans[0].stale == {}
    assert len(recorder.plans[0].done) == 1
    write_idx(tmp_path, seed=1)  # same size, new content and mtime
    os.utime(tmp_path / "img.idx.gz", ns=(1, 1))
    recorder = Recorder()
    changed = compare(experiment, out=tmp_path / "runs", report=False, progress=recorder)
    (plan,) = recorder.plans
    assert plan.done == {} and list(plan.stale.values()) == ["data file 'images' changed"]
    assert not changed.runs[0].skipped and changed.runs[0].summary != first.runs[0].summary
    record = json.loads((changed.directory / "runs/base/seed0/config.json").read_text(encoding="utf-8"))
    assert record["data_files"]["images"].startswith(f"{(tmp_path / 'img.idx.gz').stat().st_size} bytes")


def test_another_lrlab_version_retrains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = validate({"name": "v", "train": {"epochs": 1, "device": "cpu"}})
    compare(experiment, out=tmp_path, report=False)
    folder = tmp_path / "v" / "runs" / "base" / "seed0"
    assert stale_reason(folder, run_identity(experiment)) is None
    monkeypatch.setattr(identity_module, "__version__", "99.0")
    assert stale_reason(folder, run_identity(experiment)) == "lrlab 0.1.0 → 99.0"
    recorder = Recorder()
    result = compare(experiment, out=tmp_path, report=False, progress=recorder)
    assert not result.runs[0].skipped and recorder.plans[0].stale


def test_lrlab_train_retrains_a_stale_run_in_the_same_folder(tmp_path: Path) -> None:
    write_idx(tmp_path)
    experiment = idx_experiment(tmp_path)
    name = run_name(experiment)
    first = train(experiment, out=tmp_path / "runs", quiet=True)
    write_idx(tmp_path, n=150)  # a bigger file
    assert run_name(experiment) == name  # the folder name hashes settings only: --resume finds it
    again = train(experiment, out=tmp_path / "runs", quiet=True, resume=True)
    assert again.run_dir == first.run_dir and again.retrained == "data file 'images' changed"
    record = json.loads((again.run_dir / "config.json").read_text(encoding="utf-8"))
    assert record["data_files"] == data_files(experiment)
