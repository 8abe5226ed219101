"""``lrlab tune --budget-epochs N``: a study never trains more than N epochs in all (pruned and
failed trials counted from their own records), starts no trial it could not finish, shares the
budget between workers and runs, stops at the first of ``--trials`` and the budget, and refuses
a budget that holds no trial before anything trains."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from torch import Tensor, nn

from lrlab.cli import main
from lrlab.config import load_experiment
from lrlab.models import mlp
from lrlab.tune.budget import Budget, Lengths, Limits, epochs_spent
from lrlab.tune.defaults import DEFAULT_TRIALS
from lrlab.tune.export import TuneResult
from lrlab.tune.run import tune
from lrlab.tune.space import build_space
from lrlab.tune.storage import default_url
from lrlab.tune.study import TuneConfig, limits, worker_count
from tests.tune.conftest import tiny_toml

FAILING = "tests.tune.test_budget:failing"
STEPS_PER_EPOCH = 9  # digits with 20 % held out, batch 128
COMPLETE, FAIL, PRUNED, RUNNING = (
    optuna.trial.TrialState[s] for s in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")
)


class Failing(nn.Module):
    """A small MLP that raises at the first update after ``epochs`` epochs of digits."""

    def __init__(self, inner: nn.Module, epochs: int) -> None:
        super().__init__()
        self.inner, self.left = inner, epochs * STEPS_PER_EPOCH

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            if self.left == 0:
                raise RuntimeError("a bug in the model")
            self.left -= 1
        out: Tensor = self.inner(x)
        return out


def failing(input_shape: tuple[int, ...], num_outputs: int, epochs: int = 2) -> nn.Module:
    """A model plug-in: :class:`Failing` around a small MLP."""
    return Failing(mlp(input_shape, num_outputs, widths=(16,)), epochs)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


def trials_of(folder: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=default_url(folder)).get_trials(deepcopy=False)


def recorded(folder: Path) -> int:
    """The epochs of the study's trials, from its records: the study and trials.csv agree."""
    trials = trials_of(folder)
    with (folder / "trials.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert sum(int(row["epochs"] or 0) for row in rows if row["state"] != "not run") == epochs_spent(trials)
    return epochs_spent(trials)


def run(tmp_path: Path, text: str, **settings: object) -> TuneResult:
    settings = {"report": False, "out": tmp_path / "runs", **settings}
    return tune(load_experiment(write(tmp_path, text)), TuneConfig(**settings))  # type: ignore[arg-type]


@pytest.mark.parametrize("pruner", ["asha", "none"])
def test_the_cli_stops_within_the_budget_pruned_trials_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pruner: str
) -> None:
    path = write(tmp_path, tiny_toml(epochs=4))
    args = ["tune", str(path), "--budget-epochs", "30", "--pruner", pruner, "--workers", "1", "--no-report"]
    code = main([*args, "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    folder = tmp_path / "runs" / "tiny"
    spent = recorded(folder)
    assert code == 0 and (folder / "best.toml").is_file()
    assert 30 - 4 < spent <= 30 and f"; {spent} of 30 training epochs spent" in out
    assert err.startswith(f"lrlab: study 'tiny' in {folder}: at most 30 training epochs, 1 worker(s)\n")
    trials = trials_of(folder)
    assert all(t.state in (COMPLETE, PRUNED) for t in trials)
    if pruner == "asha":
        assert any(t.state == PRUNED for t in trials) and len(trials) > 30 // 4
    else:
        assert [t.user_attrs["epochs"] for t in trials] == [4] * 7  # 28: an 8th would pass 30


def test_a_failed_trial_counts_the_epochs_it_trained(tmp_path: Path) -> None:
    search = f'lr = "choice(0.1, 0.3)"\n"task.model" = "choice(\'mlp(widths=[16])\', \'{FAILING}\')"'
    result = run(tmp_path, tiny_toml(search, epochs=3), budget_epochs=9, sampler="grid", pruner="none")
    trials = trials_of(result.directory)
    failed = [t for t in trials if t.state == FAIL]
    assert failed and all(t.user_attrs["epochs"] == 2 for t in failed)  # recorded before it failed
    assert all("a bug in the model" in t.user_attrs["fail_reason"] for t in failed)
    # the 4 trials of the grid need 3 + 3 + 2 + 2 = 10 epochs: the failed ones' count leaves room for 3
    assert len(trials) == 3 and result.epochs_spent == recorded(result.directory) <= 9
    assert result.best is not None and (result.directory / "best.toml").is_file()


def test_two_workers_never_pass_the_budget(tmp_path: Path) -> None:
    result = run(tmp_path, tiny_toml(epochs=4), budget_epochs=18, workers=2)
    spent = recorded(result.directory)
    assert 18 - 4 < spent <= 18 and result.epochs_spent == spent and not result.notes, result.notes
    not_run = [t for t in trials_of(result.directory) if t.user_attrs.get("over_budget")]
    assert all("epochs" not in t.user_attrs and "run_dir" not in t.user_attrs for t in not_run)


def test_running_the_command_again_spends_the_rest_of_a_larger_budget(tmp_path: Path) -> None:
    first = run(tmp_path, tiny_toml(epochs=4), budget_epochs=40)
    before = [(t.number, t.params, t.value) for t in trials_of(first.directory)]
    assert 36 < first.epochs_spent <= 40
    again = run(tmp_path, tiny_toml(epochs=4), budget_epochs=40)
    assert again.epochs_spent == first.epochs_spent and len(trials_of(first.directory)) == len(before)
    larger = run(tmp_path, tiny_toml(epochs=4), budget_epochs=80)
    after = trials_of(larger.directory)
    assert [(t.number, t.params, t.value) for t in after[: len(before)]] == before
    assert 76 < larger.epochs_spent == recorded(larger.directory) <= 80 and len(after) > len(before)


def test_trials_and_a_budget_stop_at_the_first_reached(tmp_path: Path) -> None:
    by_trials = run(tmp_path, tiny_toml(epochs=4), trials=3, budget_epochs=100, pruner="none")
    assert by_trials.counts == {"complete": 3} and by_trials.epochs_spent == 12 and not by_trials.notes
    by_epochs = run(
        tmp_path, tiny_toml(epochs=4), out=tmp_path / "b", trials=30, budget_epochs=10, pruner="none"
    )
    assert by_epochs.counts == {"complete": 2} and by_epochs.epochs_spent == 8 and not by_epochs.notes


def test_a_searched_trial_length_never_passes_the_budget(tmp_path: Path) -> None:
    search = 'lr = "loguniform(1e-2, 1)"\n"train.epochs" = "int(2, 6)"'
    settings = {"budget_epochs": 13, "sampler": "random", "pruner": "none"}
    result = run(tmp_path, tiny_toml(search, epochs=4), **settings)
    trials = trials_of(result.directory)
    ran = [t for t in trials if not t.user_attrs.get("over_budget")]
    assert all(t.user_attrs["epochs"] == t.params["train.epochs"] for t in ran)
    assert recorded(result.directory) <= 13 and result.best is not None and not result.notes
    assert trials[-1].user_attrs["over_budget"] == "epochs"  # drawn too long: the study ends there
    assert trials[-1].params["train.epochs"] > 13 - result.epochs_spent
    run(tmp_path, tiny_toml(search, epochs=4), **settings)  # and the same command adds nothing
    assert len(trials_of(result.directory)) == len(trials)


def test_a_budget_below_one_trial_is_refused_before_anything_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, tiny_toml(epochs=10))
    out = ["--out", str(tmp_path / "runs"), "--quiet"]
    assert main(["tune", str(path), "--budget-epochs", "15", "--cv", "2", *out]) == 2
    assert capsys.readouterr().err == (
        "lrlab: error: --budget-epochs 15 is less than one trial's 20 epochs (train.epochs × folds); "
        "give at least 20.\n"
    )
    assert not (tmp_path / "runs").exists()
    searched = write(tmp_path, tiny_toml('"train.epochs" = "int(6, 9)"'))
    assert main(["tune", str(searched), "--budget-epochs", "5", *out]) == 2
    assert "less than one trial's 6 epochs" in capsys.readouterr().err
    in_updates = write(tmp_path, tiny_toml().replace("epochs = 4", "epochs = 4\nsteps = 20"))
    assert main(["tune", str(in_updates), "--budget-epochs", "50", *out]) == 2
    assert "train.steps sets each trial's length in updates" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_budget_that_is_not_a_positive_integer_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code = main(["tune", "--budget-epochs", value, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err == (
        f"lrlab: error: --budget-epochs must be an integer >= 1, got --budget-epochs={int(value)}.\n"
    )


def test_the_limits_of_a_study_are_resolved_in_one_place(tmp_path: Path) -> None:
    space = build_space(load_experiment(write(tmp_path, tiny_toml('lr = "choice(0.1, 0.2, 0.3)"'))))
    assert TuneConfig().trials is None and limits(space, TuneConfig()) == Limits(DEFAULT_TRIALS, None)
    assert limits(space, TuneConfig(budget_epochs=40)) == Limits(None, 40)
    both = limits(space, TuneConfig(trials=5, budget_epochs=40))
    assert both == Limits(5, 40) and both.describe() == "5 trials, at most 40 training epochs"
    assert limits(space, TuneConfig(budget_epochs=40, sampler="grid")) == Limits(3, 40)  # the grid's size


def test_workers_are_capped_by_the_trials_the_budget_holds(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, tiny_toml(epochs=4)))
    config = TuneConfig(budget_epochs=7, workers=2, out=tmp_path / "runs")
    assert worker_count(experiment, config) == (1, "--workers 2 lowered to 1: 1 trial to run")


def _study(*epochs: int | None) -> list[optuna.trial.FrozenTrial]:
    """Trials of 4 epochs: each done one with the epochs it recorded, running ones (``None``)
    after them, having trained 1 epoch."""
    study = optuna.create_study()
    for done in [e for e in epochs if e is not None]:
        study.add_trial(optuna.trial.create_trial(value=0.0, user_attrs={"epochs": done}))
    for _ in [e for e in epochs if e is None]:
        study.ask().set_user_attr("epochs", 1)
    return study.get_trials(deepcopy=False)


def test_a_running_trial_holds_its_whole_length_and_a_later_trial_waits() -> None:
    budget = Budget(Limits(trials=None, epochs=12), Lengths(fewest=4, most=4, folds=1, searched=False))
    trials = _study(2, None, None)  # 2 spent, 2 × 4 held: 2 left
    assert budget.epochs_left(trials) == 2 and budget.next_step(trials) == "wait"
    assert budget.refusal(3, 4, trials) == "epochs" and budget.refusal(2, 4, trials) is None
    assert budget.next_step(_study(2, 4, 4)) == "stop"  # 10 spent, nothing running
    assert budget.next_step(_study(2, 2)) == "start"
    assert Budget(Limits(trials=3, epochs=100), budget.lengths).next_step(_study(4, 4, 4)) == "stop"
