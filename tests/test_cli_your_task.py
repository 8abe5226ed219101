"""A user's own task through the experiment file: ``[task] plugin`` in ``examples/your-task`` with
``lrlab compare --jobs 2``, ``lrlab tune`` and ``find-lr`` run as a user runs them (from the
repository root, no PYTHONPATH); an edited plug-in retrains; plug-in errors in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "your-task"
LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]


def lrlab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a fresh process, no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [*LRLAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def small_copy(tmp_path: Path, epochs: int = 2) -> Path:
    """The example's files in ``tmp_path/your-task`` with a shorter training."""
    folder = tmp_path / "your-task"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "experiment.toml"
    text = toml.read_text().replace("epochs = 6", f"epochs = {epochs}").replace("seeds = 2", "seeds = 1")
    toml.write_text(
        text.replace("milestones=[3, 5]", "milestones=[1]").replace("cosine(steps=5", "cosine(steps=1")
    )
    return toml


def test_the_example_compares_with_two_jobs_and_tunes_from_the_repository_root(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = lrlab(
        "compare", "examples/your-task/experiment.toml", "--jobs", "2", "--out", str(out), "--epochs", "2"
    )
    assert result.returncode == 0, result.stderr
    assert "6 runs, 6 to train in 2 worker processes" in result.stderr
    for variant in ("constant", "multistep", "warmup-cosine"):
        summary = json.loads((out / "your-task" / "runs" / variant / "seed1" / "summary.json").read_text())
        assert summary["final"]["val_acc"] > 0.5 and summary["test"]["test_loss"] < 1.5  # by its loss_fn
    assert all(variant in result.stdout for variant in ("constant", "multistep", "warmup-cosine"))
    tuned = lrlab(
        "tune",
        "examples/your-task/experiment.toml",
        "--trials",
        "3",
        "--epochs",
        "2",
        "--out",
        str(out / "tune"),
        "--quiet",
        "--no-report",
    )
    assert tuned.returncode == 0, tuned.stderr
    best = (out / "tune" / "your-task" / "best.toml").read_text()
    assert 'plugin = "task:build(width=32)"' in best and "schedule = " in best


def test_find_lr_on_the_plugin_and_the_recommended_schedule_in_epochs(tmp_path: Path) -> None:
    result = lrlab(
        "find-lr", "examples/your-task/experiment.toml", "--out", str(tmp_path), "--format", "json", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["suggested_lr"] is not None, report["reason"]
    assert "lrlab train examples/your-task/experiment.toml --lr" in report["command"]


def test_an_edited_plugin_retrains_and_an_unchanged_one_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = small_copy(tmp_path)
    out = str(tmp_path / "runs")
    assert main(["compare", str(toml), "--out", out, "--no-report"]) == 0
    first = capsys.readouterr().err
    assert "3 runs, 3 to train" in first
    seed0 = tmp_path / "runs" / "your-task" / "runs" / "constant" / "seed0"
    before = json.loads((seed0 / "config.json").read_text())
    assert main(["compare", str(toml), "--out", out, "--no-report"]) == 0
    assert "3 reused (finished before), 0 to train" in capsys.readouterr().err
    plugin = toml.parent / "task.py"
    plugin.write_text(plugin.read_text().replace("nn.Linear(width, 10)", "nn.Linear(width, 10, bias=False)"))
    assert main(["compare", str(toml), "--out", out, "--no-report"]) == 0
    assert "3 to train" in capsys.readouterr().err
    after = json.loads((seed0 / "config.json").read_text())
    assert after["plugins"] != before["plugins"]
    assert after["model"]["parameters"] == before["model"]["parameters"] - 10  # the new plug-in trained


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        ("nowhere:build", r"cannot import 'nowhere' .*; looked in .*your-task"),
        ("task:missing", r"'task' has no function 'missing'"),
        (
            "task:build(depth=3)",
            r"task plug-in 'task:build\(depth=3\)': got an unexpected keyword argument 'depth'",
        ),
        ("task:build(width=-4)", r"task plug-in 'task:build\(width=-4\)'.*raised"),
        ("task:loss_fn", r"task plug-in 'task:loss_fn': missing a required argument: 'model'"),
    ],
)
def test_plugin_problems_are_one_line_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plugin: str, message: str
) -> None:
    toml = small_copy(tmp_path)
    toml.write_text(toml.read_text().replace('"task:build(width=32)"', f'"{plugin}"'))
    code = main(["compare", str(toml), "--out", str(tmp_path / "runs"), "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "runs" / "your-task" / "runs").exists()


def test_a_plugin_that_returns_no_task_and_settings_it_replaces_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = small_copy(tmp_path)
    toml.write_text(toml.read_text().partition("[[variant]]")[0])  # one setting, for lrlab train
    (toml.parent / "other.py").write_text("def build():\n    return 42\n")
    toml.write_text(toml.read_text().replace('"task:build(width=32)"', '"other:build"'))
    assert main(["train", str(toml), "--out", str(tmp_path / "runs")]) == 2
    assert "must return lrlab.Task(model=" in capsys.readouterr().err
    toml.write_text(
        toml.read_text().replace('plugin = "other:build"', 'plugin = "other:build"\ndataset = "mnist"')
    )
    assert main(["compare", str(toml), "--out", str(tmp_path / "runs")]) == 2
    assert "task.dataset does not apply with task.plugin" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--final"], ["--cv", "3"]])
def test_tune_refuses_to_split_or_merge_a_plugin_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    toml = small_copy(tmp_path)
    assert main(["tune", str(toml), *flag, "--out", str(tmp_path / "runs")]) == 2
    assert "makes its own splits" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
