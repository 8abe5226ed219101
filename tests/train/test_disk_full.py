"""A full disk while a checkpoint is written: one line that says so, the previous checkpoint
intact and loadable, no finished epoch lost, and ``--resume`` ends where an uninterrupted run
ends once space is back."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from lrlab.cli import main

ARGS = ["train", "--model", "mlp(widths=[16])", "--epochs", "3", "--batch-size", "256", "--device", "cpu"]


class FullDisk(io.RawIOBase):
    """A file whose writes fail with ENOSPC after a few bytes, as a full disk's do."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.file.write(bytes(data)[:100])  # a torn temporary is left behind, as on a real disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self) -> int:
        return int(self.file.fileno())

    def close(self) -> None:
        self.file.close()
        super().close()


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, checkpoint_write: int) -> None:
    """From the ``checkpoint_write``-th write of a checkpoint.pt on, the disk is full."""
    real = os.fdopen
    seen = {"checkpoints": 0}

    def fdopen(handle: int, *args: Any, **kwargs: Any) -> Any:
        file = real(handle, *args, **kwargs)
        if ".checkpoint.pt." in os.readlink(f"/proc/self/fd/{handle}"):
            seen["checkpoints"] += 1
            if seen["checkpoints"] >= checkpoint_write:
                return FullDisk(file)
        return file

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="finds the file by /proc/self/fd")
def test_a_full_disk_keeps_the_last_checkpoint_and_resume_finishes_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "runs"
    with monkeypatch.context() as patch:
        fill_disk_at(patch, checkpoint_write=2)  # epoch 1 is saved, epoch 2's save fails
        code = main([*ARGS, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrlab: error: the disk is full: writing "), err
    assert "checkpoint.pt" in lines[0] and "the previous one is kept" in lines[0] and "--resume" in lines[0]
    (folder,) = out.glob("*/*/")
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".checkpoint.pt.")]  # no torn temporary
    assert not (folder / ".lock").exists()  # the claim ended with the fit
    saved = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert saved["state"]["epoch"] == 1 and len(saved["state"]["history"]) == 1  # epoch 1 intact

    assert main([*ARGS, "--out", str(out), "--quiet", "--resume"]) == 0  # space is back
    resumed = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    rows = (folder / "metrics.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(rows) == 1 + 3  # header and every epoch, none lost and none twice

    assert main([*ARGS, "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    (whole,) = (tmp_path / "whole").glob("*/*/summary.json")
    expected = json.loads(whole.read_text(encoding="utf-8"))
    timing = {"time_s", "samples_per_s"}
    same = {key: value for key, value in resumed["final"].items() if key not in timing}
    assert same == {
        key: value for key, value in expected["final"].items() if key not in timing
    }  # exact resume
