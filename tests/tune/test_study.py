"""Studies end to end, in this process: a seeded study repeats exactly, pruning stops trials that
keep their run directories, cross-validation averages folds, a re-run continues the study, and
best.toml trains to the same numbers with ``lrlab train``."""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter
from pathlib import Path

import optuna
import pytest
import torch

from lrlab.cli import main
from lrlab.config import load_experiment
from lrlab.errors import LrlabError
from lrlab.tune.export import TuneResult
from lrlab.tune.objective import cv_folds
from lrlab.tune.run import tune
from lrlab.tune.storage import default_url
from lrlab.tune.study import TuneConfig
from tests.tune.conftest import tiny_toml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp_path: Path, text: str, out: str = "runs", **settings: object) -> TuneResult:
    experiment = load_experiment(write(tmp_path, text))
    settings.setdefault("report", False)  # drawing figures is the slow part: only where tested
    return tune(experiment, TuneConfig(out=tmp_path / out, **settings))  # type: ignore[arg-type]


def trials_of(folder: Path, name: str = "tiny") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=default_url(folder))
    return study.get_trials(deepcopy=False)


def metrics(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_seeded_study_runs_end_to_end_and_repeats_exactly(tmp_path: Path) -> None:
    first = run(tmp_path, tiny_toml(), "a", trials=5, pruner="none")
    second = run(tmp_path, tiny_toml(), "b", trials=5, pruner="none")
    assert first.counts == {"complete": 5} and first.best is not None and second.best is not None
    a, b = trials_of(tmp_path / "a" / "tiny"), trials_of(tmp_path / "b" / "tiny")
    assert [(t.params, t.value) for t in a] == [(t.params, t.value) for t in b]
    assert first.best.number == second.best.number
    assert first.best.value == max(t.value for t in a if t.value is not None)  # val_acc: maximized
    folder = first.directory
    for name in ("experiment.toml", "study.db", "best.toml", "trials.csv"):
        assert (folder / name).is_file(), name
    for trial in a:
        run_dir = folder / trial.user_attrs["run_dir"]
        assert len(metrics(run_dir)) == 4 and (run_dir / "summary.json").is_file()
        assert not (run_dir / "checkpoint.pt").exists()  # trials keep metrics, not weights
    rows = list(csv.DictReader((folder / "trials.csv").open(encoding="utf-8")))
    assert [row["state"] for row in rows] == ["complete"] * 5 and "lr" in rows[0]


def test_pruned_trials_keep_their_run_directory_and_metrics(tmp_path: Path) -> None:
    search = 'lr = "loguniform(1e-4, 1)"\nschedule = "choice(\'constant\')"'
    result = run(tmp_path, tiny_toml(search, epochs=8), trials=12, pruner="asha")
    trials = trials_of(result.directory)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "ASHA pruned nothing"
    assert result.counts.get("pruned") == len(pruned) and result.counts["complete"] + len(pruned) == 12
    for trial in pruned:
        run_dir = result.directory / trial.user_attrs["run_dir"]
        rows = metrics(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        assert 1 <= len(rows) < 8 and len(rows) == trial.user_attrs["epochs"] == summary["epochs"]
        assert summary["stop"]["kind"] == "pruned" and summary["stop"]["detail"].startswith("pruned at epoch")
        assert trial.value == float(rows[-1]["val_acc"])  # the last reported value
        assert sorted(trial.intermediate_values) == list(range(1, len(rows) + 1))


def test_cross_validation_averages_the_folds_and_records_the_spread(tmp_path: Path) -> None:
    result = run(tmp_path, tiny_toml(epochs=3), trials=2, pruner="none", cv=3)
    for trial in trials_of(result.directory):
        run_dir = result.directory / trial.user_attrs["run_dir"]
        folds = [
            json.loads((run_dir / f"fold{k}" / "summary.json").read_text(encoding="utf-8")) for k in (1, 2, 3)
        ]
        values = [fold["value"] for fold in folds]
        assert trial.user_attrs["cv_values"] == values
        assert trial.value == pytest.approx(statistics.fmean(values))
        assert trial.user_attrs["cv_std"] == pytest.approx(statistics.stdev(values))
        assert sorted(trial.intermediate_values) == list(range(1, 10))  # fold k reports steps 3k+1…3k+3
    assert "(mean of 3 folds, std" in (result.directory / "best.toml").read_text(encoding="utf-8")


def test_folds_are_stratified_disjoint_and_cover_the_data(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, tiny_toml()))
    folds = cv_folds(experiment, 4)
    sizes = [len(fold.x_val) for fold in folds if fold.x_val is not None]
    assert len(folds) == 4 and max(sizes) - min(sizes) <= 1 and sum(sizes) == 1437
    for fold in folds:
        assert fold.y_val is not None and len(fold.x_train) + len(fold.y_val) == 1437
        counts = torch.bincount(fold.y_val, minlength=10).tolist()
        share = torch.bincount(fold.y_train, minlength=10) * len(fold.y_val) / len(fold.y_train)
        assert all(abs(c - s) <= 1.5 for c, s in zip(counts, share.tolist(), strict=True))


def test_running_the_command_again_continues_the_study(tmp_path: Path) -> None:
    first = run(tmp_path, tiny_toml(), trials=3, pruner="none")
    before = [(t.number, t.params, t.value) for t in trials_of(first.directory)]
    again = run(tmp_path, tiny_toml(), trials=5, pruner="none")
    after = trials_of(again.directory)
    assert [(t.number, t.params, t.value) for t in after[:3]] == before and len(after) == 5
    assert len({json.dumps(t.params, sort_keys=True) for t in after}) == 5  # new trials, new values
    run(tmp_path, tiny_toml(), trials=5, pruner="none")
    assert len(trials_of(again.directory)) == 5  # full: nothing more to do
    with pytest.raises(LrlabError, match="was run with another search space"):
        run(tmp_path, tiny_toml('lr = "loguniform(1e-2, 1)"'), trials=6)


def test_best_toml_trains_to_the_best_trials_numbers_with_lrlab_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, tiny_toml())
    code = main(
        ["tune", str(path), "--trials", "3", "--pruner", "none", "--out", str(tmp_path / "runs"), "--quiet"]
    )
    out, _ = capsys.readouterr()
    folder = tmp_path / "runs" / "tiny"
    best_toml = (folder / "best.toml").read_text(encoding="utf-8")
    assert code == 0 and best_toml.split("\n", 2)[2].strip() in out  # printed as written
    best = re.search(r"best trial (\d+): val_acc ([0-9.]+)", out)
    assert best is not None
    code = main(["train", str(folder / "best.toml"), "--out", str(tmp_path / "retrain"), "--quiet"])
    assert code == 0
    (run_dir,) = (tmp_path / "retrain" / "tiny").iterdir()
    trained, trial = metrics(run_dir), metrics(folder / "trials" / f"{int(best[1]):04d}")
    for key in ("train_loss", "val_loss", "val_acc", "lr"):
        assert [row[key] for row in trained] == [row[key] for row in trial], key
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert f"{summary['best']['val_acc']:.4g}" == best[2]


def test_final_retrain_uses_train_and_validation_and_tests_once(tmp_path: Path) -> None:
    result = run(tmp_path, tiny_toml(), trials=2, pruner="none", final=True, report=True)
    assert result.final is not None and result.best is not None
    folder = Path(result.final["run_dir"])
    assert folder.name == f"final-trial{result.best.number}"
    assert result.final["train_samples"] == 1437 and set(result.final["test"]) == {"test_loss", "test_acc"}
    assert result.final["collapsed"] is None and result.final["skipped"] == []
    trial = metrics(result.directory / result.best.user_attrs["run_dir"])
    second_half = [float(row["val_acc"]) for row in trial[len(trial) // 2 :]]
    bar = result.best.user_attrs["retrain_bar"]  # the worst val_acc of the trial's second half
    assert bar == pytest.approx(min(second_half)) and result.final["final"]["val_acc"] >= bar
    state = torch.load(folder / "model.pt", weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    assert len(metrics(folder)) == 4
    again = run(tmp_path, tiny_toml(), trials=2, pruner="none", final=True)
    assert again.final == result.final  # reused, not trained again
    assert "Final retrain" in (result.directory / "report.html").read_text(encoding="utf-8")


def test_the_report_is_one_self_contained_page(tmp_path: Path) -> None:
    result = run(tmp_path, tiny_toml(), trials=4, pruner="none", report=True)
    assert result.report is not None
    page = result.report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "lrlab tuning study" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page) and "<script" not in page
    images = re.findall(r'<img src="data:image/png;base64,', page)
    names = {path.stem for path in (result.directory / "figures").glob("*.png")}
    # importances need 10 complete trials (lrlab.tune.report.MIN_IMPORTANCE_TRIALS); the page says so
    assert names == {"history", "parallel", "curves", "best_run"} and len(images) == 4
    assert "Parameter importances are drawn from 10 complete trials on (4 so far)" in page
    assert {path.suffix for path in (result.directory / "figures").iterdir()} == {".png", ".svg"}
    assert Counter(re.findall(r"<h2>([A-Za-z]+)", page)) == Counter(
        ["Best", "Trials", "Figures", "Reproduce"]
    )
