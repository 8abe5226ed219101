"""The study page opens with results: the best trial's parameters and the trials, the long
experiment files folded away; parameter importances only from enough complete trials, with
their count; the best run's LR drawn as steps on the epoch axis the metric panels share."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from lrlab.tune import figures
from lrlab.tune.report import MIN_IMPORTANCE_TRIALS, build_tune_report

SPACE = {
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "schedule": CategoricalDistribution(["constant()", "cosine(steps=10)"]),
}


def study_of(complete: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="tiny")
    study.set_user_attr("lrlab", {"monitor": "val_acc"})
    for number in range(complete):
        lr = 10 ** (-3 + 3 * number / max(1, complete - 1))
        params = {"lr": lr, "schedule": ["constant()", "cosine(steps=10)"][number % 2]}
        value = 0.9 - abs(lr - 0.1) - 0.01 * (number % 2)
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE, value=value, params=params, distributions=SPACE,
                intermediate_values={1: value - 0.1, 2: value},
            )
        )  # fmt: skip
    return study


def write_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    toml = "\n".join(f"key{index} = {index}" for index in range(50))
    (folder / "best.toml").write_text(toml, encoding="utf-8")
    (folder / "experiment.toml").write_text(toml, encoding="utf-8")


def test_few_trials_give_no_importances_and_say_why(tmp_path: Path) -> None:
    write_files(tmp_path)
    page = build_tune_report(tmp_path, study_of(4), final=None, storage="memory").read_text(encoding="utf-8")
    assert not (tmp_path / "figures" / "importances.png").exists()
    assert f"drawn from {MIN_IMPORTANCE_TRIALS} complete trials on (4 so far)" in page


def test_enough_trials_give_importances_with_their_count(tmp_path: Path) -> None:
    write_files(tmp_path)
    page = build_tune_report(tmp_path, study_of(12), final=None, storage="memory").read_text(encoding="utf-8")
    assert (tmp_path / "figures" / "importances.png").exists()
    assert "fANOVA over the 12 complete trials" in page


def test_the_page_opens_with_results_and_folds_the_config_files(tmp_path: Path) -> None:
    write_files(tmp_path)
    page = build_tune_report(tmp_path, study_of(3), final=None, storage="memory").read_text(encoding="utf-8")
    body = page[page.index("<body>") :]
    assert body.index('id="best"') < body.index("<table") < body.index("<details>")  # parameters first
    assert page.count("<details><summary>") == 2  # best.toml and experiment.toml, folded
    assert "key49 = 49" in page  # still there to read


def test_the_best_run_panels_share_epochs_and_draw_the_lr_as_steps() -> None:
    history = [
        {"epoch": float(e), "train_loss": 2.0 / e, "val_loss": 2.2 / e, "val_acc": 0.9 - 0.5 / e,
         "lr": 0.1 if e <= 3 else 0.01}
        for e in range(1, 7)
    ]  # fmt: skip
    figure = figures.plot_run([history], "val_acc")
    losses, accuracy, lr = figure.axes[:3]
    assert losses.get_shared_x_axes().joined(losses, lr)
    assert losses.get_yscale() == "log" and lr.get_lines()[0].get_drawstyle() == "steps-pre"
    low, high = accuracy.get_ylim()
    assert low > 0.3 and high <= 1.0  # zoomed on where the accuracy is, not 0 to 1
