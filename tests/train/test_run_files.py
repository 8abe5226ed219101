"""A run directory's housekeeping: temporaries of saves a kill interrupted are removed when a
run starts and when it resumes; a damaged ``config.json`` is refused on ``--resume``; a run
another process is training is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrlab.cli import main
from lrlab.config import validate
from lrlab.train.run import train
from lrlab.train.rundir import temporaries

ROOT = Path(__file__).resolve().parents[2]
TEMPORARIES = (".checkpoint.pt.k2x9_a1b", ".best.pt.0qz81hg3", ".metrics.csv.ab12cd34", ".summary.json.z9")


def experiment(epochs: int) -> object:
    return validate(
        {
            "name": "files",
            "task": {"dataset": "digits", "model": "mlp(widths=[16])"},
            "train": {"epochs": epochs, "batch_size": 128, "device": "cpu"},
        }
    )


def leave_temporaries(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in TEMPORARIES:
        (folder / name).write_bytes(os.urandom(4096))  # what a save killed midway leaves


def test_temporaries_of_killed_saves_are_removed_on_start_and_on_resume(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    leave_temporaries(fresh)
    assert len(temporaries(fresh)) == len(TEMPORARIES)
    train(experiment(1), run_dir=fresh, quiet=True)  # type: ignore[arg-type]
    assert temporaries(fresh) == [] and (fresh / "summary.json").is_file()

    killed = tmp_path / "killed"  # a run killed after its first epoch, in the middle of a save
    killed.mkdir()
    for name in ("checkpoint.pt", "best.pt", "metrics.csv"):
        shutil.copy(fresh / name, killed / name)
    leave_temporaries(killed)
    result = train(experiment(2), run_dir=killed, resume=True, quiet=True)  # type: ignore[arg-type]
    assert result.summary["epochs"] == 2 and len(result.fit.history) == 2
    assert temporaries(killed) == []
    assert sorted(p.name for p in killed.iterdir()) == [
        "best.pt",
        "checkpoint.pt",
        "config.json",
        "metrics.csv",
        "summary.json",
    ]


def started_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], Path]:
    """A finished 1-epoch run of ``lrlab train``, made unfinished again (its summary removed)."""
    args = ["train", "--epochs", "1", "--model", "mlp(widths=[16])", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    (summary,) = tmp_path.glob("*/*/summary.json")
    summary.unlink()
    return args, summary.parent


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda text: text[: len(text) // 2], "not JSON"),
        (lambda text: "[1, 2]", "no 'experiment' table"),
        (lambda text: json.dumps({"experiment": {"train": {"epochs": "many"}}}), "train.epochs"),
    ],
)
def test_a_damaged_config_is_refused_on_resume_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, problem: str
) -> None:
    args, folder = started_run(tmp_path, capsys)
    config = folder / "config.json"
    config.write_text(damage(config.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"lrlab: error: {config} is damaged (")
    assert problem in err and "Delete its folder" in err
    assert not (folder / "summary.json").exists()


HOLD = """
import sys, time
from lrlab import runlock
runlock.acquire(sys.argv[1], wait=False)
print("held", flush=True)
time.sleep(120)
"""


def test_a_run_another_process_is_training_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, folder = started_run(tmp_path, capsys)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main([*args, "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"is being trained by process {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()
    assert main([*args, "--resume"]) == 0  # the holder is gone: the run resumes
    assert (folder / "summary.json").is_file() and not (folder / ".lock").exists()
