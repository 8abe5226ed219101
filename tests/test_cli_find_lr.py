"""``lrlab find-lr``: the table and the JSON object, the run folder, the plot, the spec that
``lrlab train --schedule`` takes as is, confirmation, hyperparameter tests, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lrlab.cli import main
from lrlab.finder.suggest import LEAN, LOW_CONFIDENCE
from lrlab.schedules import parse

FAST = ("--device", "cpu", "--quiet", "--steps", "60")


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_main(capsys, "find-lr", *FAST, "--format", "json", *args)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1  # one JSON object, nothing else on stdout
    report: dict[str, Any] = json.loads(out)
    return report


def test_json_is_one_object_with_the_recommendation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = as_json(capsys, "--out", str(tmp_path), "--optimizer", "sgd(momentum=0.9)", "--epochs", "2")
    lr = report["suggested_lr"]
    assert isinstance(lr, float) and 1e-4 < lr < 1.0
    assert 0 <= report["confidence"] <= 1 and report["reason"]
    base, high = report["range"]
    assert base < lr <= high
    assert str(parse(report["schedule"])) == report["schedule"]
    assert str(parse(report["one_cycle"])) == report["one_cycle"]
    assert "--lr" in report["command"] and "--schedule" in report["command"]
    folder = Path(report["run_dir"])
    assert {p.name for p in folder.iterdir()} == {"steps.csv", "summary.json", "range_test.png"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["recommendation"]["suggested_lr"] == lr and summary["suggested"]["value"] == lr
    # `lrlab train` accepts the schedule as it is, with the suggested LR
    code, out, err = run_main(
        capsys, "train", "--optimizer", "sgd(momentum=0.9)", "--epochs", "2", "--device", "cpu", "--quiet",
        "--out", str(tmp_path / "train"), "--lr", f"{lr:.3g}", "--schedule", report["schedule"],
    )  # fmt: skip
    assert code == 0, err
    assert "stop reason: finished 2 epochs" in out


def test_no_reliable_suggestion_is_null_with_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = as_json(capsys, "--out", str(tmp_path), "--start", "1e-9", "--end", "1e-8")
    assert report["suggested_lr"] is None and report["range"] is None and report["schedule"] is None
    assert report["reason"].startswith("no reliable suggestion") and report["command"] is None


def test_the_table_shows_methods_and_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "curve.svg"
    code, out, err = run_main(capsys, "find-lr", *FAST, "--out", str(tmp_path), "--plot", str(plot))
    assert code == 0, err
    for words in (
        "steepest",
        "valley",
        "minimum",
        "edge",
        "suggested lr:",
        "range (base, max)",
        "train with:",
    ):
        assert words in out
    assert plot.read_text().startswith("<?xml")


def test_confirm_trains_around_the_suggestion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = as_json(capsys, "--out", str(tmp_path), "--confirm", "2", "--confirm-epochs", "1")
    trials = report["confirmation"]["trials"]
    assert report["confirmation"]["metric"] == "val_acc" and len(trials) == 2
    assert report["suggested_lr"] in [trial["lr"] for trial in trials]


def test_low_confidence_is_said_on_the_first_line_and_the_suggestion_leans_lower(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sure = as_json(capsys, "--out", str(tmp_path / "sure"))
    code, out, err = run_main(capsys, "find-lr", *FAST, "--out", str(tmp_path / "sure-table"))
    assert code == 0 and sure["confidence"] >= LOW_CONFIDENCE
    assert not out.splitlines()[0].startswith("low confidence")
    monkeypatch.setattr("lrlab.finder.suggest.LOW_CONFIDENCE", 1.01)  # every curve counts as ambiguous
    code, out, err = run_main(capsys, "find-lr", *FAST, "--out", str(tmp_path / "unsure"))
    assert code == 0, err
    assert out.splitlines()[0].startswith(
        f"low confidence ({sure['confidence']:.2f}): the curve is ambiguous"
    )
    unsure = as_json(capsys, "--out", str(tmp_path / "unsure-json"))
    assert unsure["suggested_lr"] == pytest.approx(sure["suggested_lr"] / LEAN)
    assert "low confidence: leaning lower" in unsure["reason"]


def test_confirm_runs_the_trainings_it_announces_and_the_table_prints_their_scores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_main(
        capsys, "find-lr", "--device", "cpu", "--steps", "60", "--out", str(tmp_path), "--confirm", "3",
        "--confirm-epochs", "1",
    )  # fmt: skip
    assert code == 0, err
    announced = next(line for line in err.splitlines() if "confirming with 3 trainings" in line)
    lrs = announced.split("(lr ")[1].rstrip(")").split(", ")
    line = next(line for line in out.splitlines() if line.startswith("confirmed by val_acc:"))
    assert [part.split(" → ")[0] for part in line.split(": ", 1)[1].split(", ")] == [f"lr {lr}" for lr in lrs]
    assert line.count("(kept)") == 1


def test_a_weight_decay_range_test(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = as_json(capsys, "--out", str(tmp_path), "--param", "weight_decay", "--lr", "0.1")
    assert "suggested_weight_decay" in report and "suggested_lr" not in report
    assert report["schedule"] is None and report["command"] is None


def test_the_schedule_spans_a_steps_budget(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = as_json(capsys, "--out", str(tmp_path), "--train-steps", "500")
    assert parse(report["schedule"]).duration == 500  # the updates `lrlab train --steps 500` runs
    assert parse(report["one_cycle"]).duration == 500
    assert "--steps 500" in report["command"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--start", "1", "--end", "0.1"), "end must be greater than start"),
        (("--confirm", "3", "--param", "momentum"), "--confirm checks an LR suggestion"),
        (("--confirm", "2", "--val-fraction", "0"), "--confirm scores trainings on a validation split"),
        (("--repeats", "0"), "--repeats must be an integer >= 1"),
        (("--plot", "curve.jpg"), "--plot must end in .png or .svg"),
        (("--optimizer", "adagrad()"), "unknown optimizer 'adagrad'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    code, out, err = run_main(capsys, "find-lr", *FAST, "--out", str(tmp_path), *args)
    assert code == 2 and out == ""
    assert err.startswith("lrlab: error: ") and words in err and len(err.strip().splitlines()) == 1
