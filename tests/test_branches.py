"""Decay branches: a branch is bit for bit the straight WSD run of its length (the same LR at every
step, the same loss at the branch point, the same weights), the study resumes, bad plans say why."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from lrlab import LrlabError
from lrlab.branches import Plan, branches, with_schedule
from lrlab.cli import main
from lrlab.config import Experiment, validate
from lrlab.train.run import train

TIME_COLUMNS = ("time_s", "samples_per_s")


def experiment(tmp_path: Path) -> Experiment:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    return validate(
        {
            "name": "br",
            "task": {"dataset": f"text(path='{corpus}', context=16, steps_per_epoch=6, val_windows=16)",
                     "model": "char-transformer(layers=1, heads=2, width=16, dropout=0.1)"},
            "train": {"batch_size": 4, "device": "cpu"},
            "optimizer": {"name": "adamw(weight_decay=0.1)", "lr": 3e-3},
        }
    )  # fmt: skip


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open() as file:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(file)]


def test_a_branch_is_the_straight_wsd_run_of_its_length_bit_for_bit(tmp_path: Path) -> None:
    base = experiment(tmp_path)
    plan = Plan((15, 30), warmup=3, cooldown=0.2, shape="1-sqrt", end=0.0, steps_per_epoch=6)
    assert [plan.point(n) for n in plan.lengths] == [12, 24]
    assert plan.separate_steps == 45 and plan.branched_steps == 24 + 3 + 6
    table = branches(base, plan, out=tmp_path / "runs", cosine_runs=False)
    assert [row["length"] for row in table] == [15, 30] and "cosine_val_loss" not in table[0]
    for length in plan.lengths:
        straight_dir = tmp_path / f"straight{length}"
        train(with_schedule(base, plan.branch(length), length), run_dir=straight_dir, quiet=True)
        branch_dir = tmp_path / "runs" / "br" / "wsd" / f"L{length}"
        assert rows(branch_dir) == rows(straight_dir)  # the LR and every loss, epoch by epoch
        weights = torch.load(branch_dir / "checkpoint.pt", weights_only=True)["model"]
        alone = torch.load(straight_dir / "checkpoint.pt", weights_only=True)["model"]
        assert weights.keys() == alone.keys() and all(torch.equal(weights[k], alone[k]) for k in weights)
        branch_point_row = next(r for r in rows(branch_dir) if int(float(r["step"])) == plan.point(length))
        stable_row = next(
            r for r in rows(tmp_path / "runs" / "br" / "stable") if r["step"] == branch_point_row["step"]
        )
        assert branch_point_row == stable_row  # the same loss at the branch point
    assert [plan.branch(30).at(t) for t in range(24)] == [plan.stable().at(t) for t in range(24)]
    assert (
        plan.branch(30).at(23) == 1.0
        and plan.branch(30).at(24) == 1.0
        and plan.branch(30).at(29) < 0.3 < plan.branch(30).at(25) < 1.0
    )


def test_the_study_resumes_without_retraining_and_draws_the_figure(tmp_path: Path) -> None:
    base = experiment(tmp_path)
    plan = Plan((10, 20), warmup=2, cooldown=0.4, shape="linear", end=0.0, steps_per_epoch=6)
    out = tmp_path / "runs"
    first = branches(base, plan, out=out, cosine_runs=True)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "br").rglob("summary.json")}
    assert len(stamps) == 5  # stable, 2 branches, 2 cosine runs
    again = branches(base, plan, out=out, cosine_runs=True)
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (out / "br" / "branches.png").stat().st_size > 1000
    assert (out / "br" / "summary.csv").read_text().splitlines()[
        0
    ] == "length,branch_point,wsd_val_loss,cosine_val_loss"


@pytest.mark.parametrize(
    ("lengths", "settings", "message"),
    [
        ((20, 10), {}, "lengths must be increasing and distinct"),
        ((10, 26), {}, r"branch point 21 is not a multiple of the task's 4 steps per epoch"),
        ((10, 20), {"cooldown": 1.5}, r"cooldown must be a share of each length in \(0, 1\)"),
        ((10, 20), {"shape": "cubic"}, "shape must be one of linear, cosine, 1-sqrt"),
        ((10, 20), {"warmup": 9}, "warmup must be below the first branch point 8"),
    ],
)
def test_bad_plans_are_refused(lengths: tuple[int, ...], settings: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "warmup": 2,
        "cooldown": 0.2,
        "shape": "linear",
        "end": 0.0,
        "steps_per_epoch": 4,
    }
    with pytest.raises(LrlabError, match=message):
        Plan(lengths, **{**values, **settings})  # type: ignore[arg-type]


def test_the_command_prints_the_compute_saved_and_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = experiment(tmp_path)
    toml = tmp_path / "br.toml"
    toml.write_text(
        f'schedule = "warmup(steps=2, start=0.1) >> constant()"\n[task]\ndataset = "{base.task.dataset}"\n'
        f'model = "{base.task.model}"\n[train]\nbatch_size = 4\ndevice = "cpu"\n'
        '[optimizer]\nname = "adamw"\nlr = 0.003\n'
    )
    code = main(
        [
            "branches",
            str(toml),
            "--lengths",
            "10,20,30",
            "--cooldown",
            "0.4",
            "--no-cosine",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "3 lengths from one stable run of 18 updates: 42 updates in all" in err
    assert "60 to train each length alone (1.43x)" in err
    assert out.splitlines()[0].split() == ["length", "branch", "at", "WSD", "val_loss"]
    summary = json.loads((tmp_path / "r" / "br" / "wsd" / "L30" / "summary.json").read_text())
    assert summary["steps"] == 30
