"""The final retrain (``lrlab tune --final``): a retrain that collapses (its training loss ends
non-finite, or its monitored metric on its own training data ends worse than its trial's worst on
held-out data in its second half) gives way to the next best trial, the last one tried is kept
whatever it ends at, and the test split is evaluated once, for the model kept."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

from lrlab.config import Experiment, load_experiment
from lrlab.errors import LrlabError
from lrlab.train import FitResult
from lrlab.train.stop import Stop
from lrlab.tune import final
from lrlab.tune.final import (
    Candidate,
    collapsed,
    final_candidates,
    final_experiment,
    merged_data,
    retrain_first_sound,
)
from lrlab.tune.report import _best_section
from tests.tune.conftest import tiny_toml


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    path = tmp_path_factory.mktemp("final") / "tiny.toml"
    path.write_text(tiny_toml(epochs=2), encoding="utf-8")
    return final_experiment(load_experiment(path), None)


def fit_result(*epochs: tuple[float, float], reason: str = "finished") -> FitResult:
    """A fit whose epochs ended at these (training loss, monitored value on the training data)."""
    history = tuple(
        {"epoch": float(i + 1), "train_loss": loss, "val_acc": value, "val_loss": value}
        for i, (loss, value) in enumerate(epochs)
    )
    stop = Stop("diverged" if reason.startswith("diverged") else "finished", reason)
    return FitResult(history=history, stop=stop, steps=len(epochs), seconds=0.0)


BELOW = "on its own training data after 2 epochs, below the 0.95 its trial had at worst on held-out data"


@pytest.mark.parametrize(
    ("epochs", "bar", "expected"),
    [
        (((0.9, 0.8), (0.2, 0.97)), 0.95, None),  # reaches its trial's worst of the second half
        (((0.9, 0.8), (0.2, 0.95)), 0.95, None),  # exactly there
        (((0.9, 0.8), (0.2, 0.5)), None, None),  # no bar: only a non-finite loss collapses
        (((0.9, 0.8), (0.25, 0.9346)), 0.95, f"val_acc 0.9346 {BELOW} in its second half"),  # late
        (((0.9, 0.8), (2.303, 0.1)), 0.95, f"val_acc 0.1 {BELOW} in its second half"),  # dead
        (((0.9, 0.8), (0.2, math.nan)), 0.95, f"val_acc nan {BELOW} in its second half"),
        (((0.9, 0.8), (math.nan, 0.1)), 0.95, "no finite training loss (diverged)"),
        ((), 0.95, "no finite training loss (diverged)"),
    ],
)
def test_collapsed_names_the_metric_and_the_bar(
    experiment: Experiment, epochs: tuple[tuple[float, float], ...], bar: float | None, expected: str | None
) -> None:
    candidate = Candidate(1, experiment, retrain_bar=bar)
    assert collapsed(fit_result(*epochs, reason="diverged"), candidate) == expected


def test_a_loss_monitor_must_end_at_or_below_its_bar(experiment: Experiment) -> None:
    stopping = experiment.early_stopping.model_copy(update={"monitor": "val_loss"})
    candidate = Candidate(1, experiment.model_copy(update={"early_stopping": stopping}), retrain_bar=0.3)
    assert collapsed(fit_result((0.9, 0.8), (0.2, 0.25)), candidate) is None
    assert collapsed(fit_result((0.9, 0.8), (0.2, 0.35)), candidate) == (
        "val_loss 0.35 on its own training data after 2 epochs, above the 0.3 its trial had at worst "
        "on held-out data in its second half"
    )


def test_a_collapsed_retrain_gives_way_to_the_next_best_and_a_rerun_reuses_both(
    tmp_path: Path, experiment: Experiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, notes = merged_data(experiment), []
    candidates = [Candidate(3, experiment, retrain_bar=1.01), Candidate(5, experiment, None)]
    summary = retrain_first_sound(candidates, data, tmp_path, notes)
    assert summary["trial"] == 5 and summary["collapsed"] is None
    assert set(summary["test"]) == {"test_loss", "test_acc"} and summary["train_samples"] == 1437
    assert [skip["trial"] for skip in summary["skipped"]] == [3]
    assert "below the 1.01 its trial had at worst on held-out data" in summary["skipped"][0]["collapsed"]
    assert notes == [
        f"the final retrain of trial 3 collapsed ({summary['skipped'][0]['collapsed']}); "
        "the next best trial was retrained instead."
    ]
    dropped = json.loads((tmp_path / "final-trial3" / "summary.json").read_text(encoding="utf-8"))
    assert dropped["test"] == {} and not (tmp_path / "final-trial3" / "model.pt").exists()
    assert (tmp_path / "final-trial5" / "model.pt").is_file()
    kept = json.loads((tmp_path / "final-trial5" / "summary.json").read_text(encoding="utf-8"))
    assert kept == summary

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rerun trains nothing")

    monkeypatch.setattr(final, "fit_experiment", no_training)
    assert retrain_first_sound(candidates, data, tmp_path, []) == summary


def test_the_last_candidate_is_kept_and_tested_even_when_it_collapses(experiment: Experiment) -> None:
    notes: list[str] = []
    summary = retrain_first_sound([Candidate(7, experiment, 1.01)], merged_data(experiment), None, notes)
    assert summary["trial"] == 7 and summary["collapsed"] and "test_acc" in summary["test"]
    assert summary["run_dir"] is None and summary["skipped"] == []
    assert len(notes) == 1 and "trial 7 collapsed too" in notes[0] and "lower the LR range" in notes[0]


def test_no_candidate_is_a_clear_error(experiment: Experiment) -> None:
    with pytest.raises(LrlabError, match="at least one complete trial"):
        retrain_first_sound([], merged_data(experiment), None, [])


@pytest.mark.parametrize(("direction", "order"), [("maximize", [1, 3, 2]), ("minimize", [0, 2, 3])])
def test_final_candidates_are_the_best_three_complete_trials_best_first(
    experiment: Experiment, direction: str, order: list[int]
) -> None:
    study = optuna.create_study(direction=direction)
    for value in (0.1, 0.9, 0.5, 0.7):
        attrs = {"best_epoch": 1, "retrain_bar": value / 10}
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value, user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    candidates = final_candidates(study, lambda trial: experiment)
    assert [candidate.number for candidate in candidates] == order
    values = {0: 0.1, 1: 0.9, 2: 0.5, 3: 0.7}
    assert [candidate.retrain_bar for candidate in candidates] == [values[n] / 10 for n in order]
    assert all(candidate.experiment == experiment for candidate in candidates)


def test_the_report_says_which_retrains_collapsed(tmp_path: Path) -> None:
    best = optuna.trial.create_trial(params={}, distributions={}, value=0.9)
    final = {
        "trial": 5,
        "train_samples": 1437,
        "epochs": 2,
        "test": {"test_acc": 0.9},
        "run_dir": "final-trial5",
        "collapsed": "val_acc 0.1 on its own training data after 2 epochs, below the 0.8 its trial had",
        "skipped": [{"trial": 3, "collapsed": "no finite training loss (diverged)"}],
    }
    section = _best_section(tmp_path, best, "val_acc", final)
    assert "The retrain of trial 3 collapsed: no finite training loss (diverged).</p>" in section
    assert "The retrain of trial 5 collapsed: val_acc 0.1 on its own training data" in section
    assert "It is kept: none of the best trials retrained soundly." in section
