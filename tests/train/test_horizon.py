"""A schedule that ends long before or after its run is warned about in one line before training;
``--interval`` sets what the schedule's numbers count, and the header line says it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from lrlab.cli import main
from lrlab.compare import compare
from lrlab.config import validate
from lrlab.train.horizon import ScheduleHorizonWarning, horizon_warning, run_length


def experiment(schedule: str, **train: object) -> object:
    return validate({"schedule": schedule, "train": {"epochs": 3, "device": "cpu", **train}})


@pytest.mark.parametrize(
    ("schedule", "train", "expected"),
    [
        ("cosine(steps=1300)", {}, "runs for 1300 steps, but the run's 171 steps end at 13% of it"),
        ("cosine(steps=40)", {}, "ends after 40 steps, 23% of the run's 171 steps"),
        ("multistep(milestones=[15, 30], gamma=0.5)", {"interval": "epoch"}, "decays first at epoch 15"),
        ("multistep(milestones=[1, 30], gamma=0.5)", {"interval": "epoch"}, "milestone at epoch 30, far"),
        ("multistep(milestones=[1, 3], gamma=0.5)", {"interval": "epoch"}, None),
        ("cosine(steps=171)", {}, None),
        ("cosine(steps=3)", {"interval": "epoch"}, None),
        ("multistep(milestones=[1, 2], gamma=0.5)", {"interval": "epoch"}, None),
        ("constant()", {}, None),
        ("cosine(steps=200)", {"steps": 150}, None),
    ],
)
def test_horizon_warning(schedule: str, train: dict[str, object], expected: str | None) -> None:
    note = horizon_warning(experiment(schedule, **train), 57)  # type: ignore[arg-type]
    assert (
        (note is None) if expected is None else (note is not None and expected in note and "\n" not in note)
    )


def test_run_length_is_in_the_schedules_units() -> None:
    assert run_length(experiment("constant()"), 57) == 171  # type: ignore[arg-type]
    assert run_length(experiment("constant()", interval="epoch"), 57) == 3  # type: ignore[arg-type]
    assert run_length(experiment("constant()", steps=100, interval="epoch"), 57) == 2  # type: ignore[arg-type]


def test_lrlab_train_warns_in_one_line_before_training_and_shows_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--schedule",
        "cosine(steps=500)",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if line.startswith("lrlab: warning: the schedule cosine(steps=500)")]
    assert len(warned) == 1 and "(per step)" in warned[0] and "--interval epoch" in warned[0]
    header = next(line for line in err if line.startswith("lrlab: training"))
    assert header.endswith("(schedule cosine(steps=500) per step)")
    assert err.index(warned[0]) < len(err) - 1  # before the run's own output ends


def test_interval_flag_sets_the_schedules_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--out", str(tmp_path), "--epochs", "2", "--device", "cpu", "--quiet"]
    assert main([*args, "--schedule", "cosine(steps=2)", "--interval", "epoch"]) == 0
    assert "warning" not in capsys.readouterr().err
    (run,) = (tmp_path / "default").iterdir()
    assert '"interval": "epoch"' in (run / "config.json").read_text(encoding="utf-8")
    assert main(["train", "--interval", "hour"]) == 2


def test_compare_warns_once_per_variant_when_planned(tmp_path: Path) -> None:
    exp = validate(
        {
            "name": "h",
            "seeds": 2,
            "schedule": "multistep(milestones=[15, 30], gamma=0.5)",
            "train": {"epochs": 1, "device": "cpu", "interval": "epoch"},
            "variant": [{"name": "a"}, {"name": "b", "schedule": "constant()"}],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compare(exp, out=tmp_path, report=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, ScheduleHorizonWarning)]
    assert len(notes) == 1 and notes[0].startswith("variant 'a': the schedule multistep")
