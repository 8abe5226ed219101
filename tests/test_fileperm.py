"""Run files follow the umask (mkstemp alone would leave them 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import torch

from lrlab.config import Experiment
from lrlab.fileperm import current_umask
from lrlab.record import copy_file, write_json, write_text, write_torch
from lrlab.train.run import train


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask_022: None) -> None:
    assert current_umask() == 0o022
    assert current_umask() == 0o022


def test_each_atomic_writer_follows_umask_022(tmp_path: Path, umask_022: None) -> None:
    write_json(tmp_path / "a.json", {})
    write_torch(tmp_path / "b.pt", {"x": torch.zeros(1)})
    write_text(tmp_path / "c.csv", "a\n")
    copy_file(tmp_path / "b.pt", tmp_path / "d.pt")
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == dict.fromkeys(
        ("a.json", "b.pt", "c.csv", "d.pt"), 0o644
    )


def test_a_stricter_umask_is_kept(tmp_path: Path) -> None:
    before = os.umask(0o077)
    try:
        write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(before)
    assert mode(tmp_path / "a.json") == 0o600


def test_a_run_directory_is_0644_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    experiment = Experiment.model_validate({"train": {"epochs": 1, "device": "cpu"}})
    result = train(experiment, run_dir=tmp_path / "run", quiet=True)
    files = [p for p in result.run_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    assert files and {p.name: mode(p) for p in files} == {p.name: 0o644 for p in files}
