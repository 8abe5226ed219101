"""``lrlab compare``: the table and progress lines, bad input that exits 2 before any training,
and a comparison killed with SIGKILL that the same command finishes without retraining."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = """
seeds = 2
[task]
dataset = "synthetic-classification(n=1000)"
model = "{model}"
[train]
epochs = {epochs}
batch_size = 64
device = "cpu"
interval = "epoch"
[[variant]]
name = "constant"
[[variant]]
name = "halved"
schedule = "multistep(milestones=[1], gamma=0.5)"
"""


def write(tmp_path: Path, text: str, name: str = "cmp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_progress_and_a_table_then_skips_finished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EXPERIMENT.format(model="mlp(widths=[16])", epochs=2))
    one = ("--jobs", "1")  # the default is one process per CPU
    code, out, err = run_main(
        capsys, "compare", str(path), "--out", str(tmp_path / "runs"), "--no-report", *one
    )
    assert code == 0, err
    assert "comparing 2 variants × 2 seeds in " in err and ": 4 runs, 4 to train in 1 process" in err
    assert err.count("lrlab: [") == 4 and "halved seed1: val_acc" in err and "trained before" not in err
    assert "cmp: mean ± std over 2 seeds" in out and "constant" in out and "halved" in out
    assert "finished" in out and str(tmp_path / "runs" / "cmp" / "summary.csv") in out
    code, out, err = run_main(capsys, "compare", str(path), "--out", str(tmp_path / "runs"), "--no-report")
    assert (
        code == 0
        and err.count("trained before") == 4
        and "4 runs, 4 reused (finished before), 0 to train" in err
    )
    code, out, err = run_main(
        capsys,
        "compare",
        str(path),
        "--out",
        str(tmp_path / "runs"),
        "--seeds",
        "3",
        "--quiet",
        "--no-report",
    )
    assert code == 0 and err == "" and "over 3 seeds" in out  # two more runs, the first four kept


@pytest.mark.parametrize(
    ("args", "text", "expected"),
    [
        ((), '[[variant]]\nname = "a"\nlrr = 1', "unknown key 'variant[0].lrr'"),
        ((), '[[variant]]\nname = "a"\nschedule = "cosine(step=3)"', "variant[0].schedule: "),
        (
            (),
            '[[variant]]\nname = "a"\n[variant.optimizer]\nname = "adam(beta=1)"',
            "variant 'a': optimizer.name",
        ),
        (
            (),
            '[task]\ndataset = "idx(images=\\"no.gz\\", labels=\\"no.gz\\", test_size=5)"',
            "does not exist",
        ),
        (("--preset", "quickstart"), "", "give an experiment file or --preset NAME, not both."),
        (("--jobs", "-1"), "", "--jobs must be an integer >= 0"),
        (("--seeds", "0"), "", "--seeds must be an integer in [1, 1000]"),
        (("--epochs", "0"), "", "--epochs must be an integer >= 1"),
    ],
)
def test_bad_input_exits_2_with_one_line_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    out_dir = tmp_path / "runs"
    code, out, err = run_main(capsys, "compare", str(path), "--out", str(out_dir), *args)
    assert code == 2 and out == ""
    assert err.startswith("lrlab: error: ") and err.count("\n") == 1 and expected in err
    assert not out_dir.exists()


def test_an_unknown_preset_suggests_the_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "compare", "--preset", "quickstrat", "--out", str(tmp_path))
    assert code == 2 and "unknown preset 'quickstrat'; did you mean 'quickstart'?" in err


def test_no_arguments_compare_the_quickstart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the real quickstart takes about 30 s (docs/compare.md); here its settings at 1 epoch
    args = ("compare", "--out", str(tmp_path), "--epochs", "1", "--seeds", "1", "--quiet", "--no-report")
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    with (tmp_path / "quickstart" / "summary.csv").open(encoding="utf-8") as file:
        variants = [row["variant"] for row in csv.DictReader(file)]
    assert variants == ["constant", "inverse-sqrt", "multistep", "warmup-cosine"]


def environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def summaries(folder: Path) -> dict[Path, os.stat_result]:
    return {path: path.stat() for path in folder.glob("runs/*/seed*/summary.json")}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_comparison_resumes_without_retraining_finished_runs(tmp_path: Path) -> None:
    path = write(tmp_path, EXPERIMENT.format(model="tests.train.plugins:slow_mlp", epochs=4))
    args = [
        sys.executable,
        "-m",
        "lrlab",
        "compare",
        str(path),
        "--out",
        str(tmp_path / "runs"),
        "--no-report",
    ]
    folder = tmp_path / "runs" / "cmp"
    process = subprocess.Popen(args, cwd=tmp_path, env=environment(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    try:
        while not summaries(folder) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        stderr = process.stderr.read() if process.stderr else ""
    kept = summaries(folder)
    assert 1 <= len(kept) < 4, stderr
    again = subprocess.run(
        args, cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("trained before") == len(kept)
    for summary, before in kept.items():
        after = summary.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(summaries(folder)) == 4
    with (folder / "summary.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(row["variant"], row["runs"], row["epochs_mean"]) for row in rows] == [
        ("constant", "2", "4.0"),
        ("halved", "2", "4.0"),
    ]
