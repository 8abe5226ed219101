"""Early stopping, plateau cuts and the monitor: exact trigger semantics and state round trips;
the loop's calls: an epoch a callback rolls back is seen by no later callback."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import nn

from lrlab.data import Data, load_dataset
from lrlab.errors import LrlabError
from lrlab.schedules import cosine, parse
from lrlab.train import Callback, EarlyStopping, FitConfig, Monitor, ReduceLROnPlateau, Rollback, Run, fit
from lrlab.train.state import Snapshot


def make_run(schedule: str = "constant()", steps_per_epoch: int = 10) -> Run:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    return Run(model, optimizer, parse(schedule), FitConfig(), [1.0], steps_per_epoch)


def feed(callback: EarlyStopping | ReduceLROnPlateau, run: Run, values: list[float]) -> list[float]:
    """Run ``values`` as val_loss through the callback; return the LR scale in force each epoch."""
    callback.on_fit_start(run)
    scales = []
    for epoch, value in enumerate(values, start=1):
        scales.append(run.state.lr_scale)
        callback.on_epoch_end(run, {"epoch": float(epoch), "val_loss": value})
        if run.stopped:
            break
    return scales


SEQUENCE = [1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]


def test_plateau_counts_patience_like_keras() -> None:
    run = make_run()
    scales = feed(ReduceLROnPlateau(factor=0.1, patience=2, min_delta=0.0), run, SEQUENCE)
    expected = [1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 1e-4]
    assert scales == pytest.approx(expected)


def test_plateau_cooldown_and_min_scale() -> None:
    run = make_run()
    scales = feed(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_scale=0.2), run, [1.0] * 12)
    # a cut after the 1st bad epoch, then 2 cooldown epochs, then a cut per bad epoch, floored at 0.2
    assert scales == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2])


def test_plateau_waits_out_the_warmup() -> None:
    run = make_run("warmup(steps=30, start=0.1) >> constant()", steps_per_epoch=10)
    callback = ReduceLROnPlateau(factor=0.5, patience=1)
    scales = feed(callback, run, [1.0] * 6)
    assert callback.grace_epochs == 3
    assert scales == pytest.approx([1, 1, 1, 1, 0.5, 0.25])


@pytest.mark.parametrize(("patience", "stops_at"), [(0, 2), (1, 2), (2, 3), (3, 4)])
def test_early_stopping_stops_after_patience_bad_epochs(patience: int, stops_at: int) -> None:
    run = make_run()
    callback = EarlyStopping(patience=patience, restore_best_weights=False)
    feed(callback, run, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    assert run.stopped is not None
    assert f"early-stopped at epoch {stops_at}" in str(run.stopped)
    assert "best 1 at epoch 1" in str(run.stopped)


def test_min_delta_and_baseline() -> None:
    monitor = Monitor("val_loss", min_delta=0.1)
    assert monitor.update(1.0, 1) and not monitor.update(0.95, 2) and monitor.update(0.85, 3)
    with_baseline = Monitor("val_acc", baseline=0.5)
    assert with_baseline.mode == "max"
    assert not with_baseline.update(0.4, 1) and with_baseline.wait == 1
    assert with_baseline.update(0.6, 2) and with_baseline.wait == 0
    assert not Monitor("val_loss").update(float("nan"), 1)


def test_grace_period_defaults_to_the_warmup_in_epochs() -> None:
    run = make_run("warmup(steps=25, start=0.0) >> cosine(steps=100)", steps_per_epoch=10)
    callback = EarlyStopping(patience=1, restore_best_weights=False)
    feed(callback, run, [1.0, 2.0, 2.0, 2.0, 2.0])
    assert callback.grace_epochs == 3
    assert run.stopped is not None and "epoch 4" in str(run.stopped)


def test_explicit_grace_overrides_the_warmup() -> None:
    run = make_run("warmup(steps=25, start=0.0) >> cosine(steps=100)")
    callback = EarlyStopping(patience=1, grace=0, restore_best_weights=False)
    feed(callback, run, [1.0, 2.0, 2.0])
    assert run.stopped is not None and "epoch 2" in str(run.stopped)


def test_restore_best_weights_loads_the_best_epoch() -> None:
    run = make_run()
    callback = EarlyStopping(patience=5)
    callback.on_fit_start(run)
    saved = {}
    for epoch, value in enumerate([3.0, 1.0, 2.0], start=1):
        with torch.no_grad():
            run.model.weight.fill_(float(epoch))
        saved[epoch] = run.model.weight.clone()
        callback.on_epoch_end(run, {"epoch": float(epoch), "val_loss": value})
    callback.on_fit_end(run)
    assert torch.equal(run.model.weight, saved[2])


def test_state_round_trip_continues_identically() -> None:
    values = [1.0, 0.8, 0.9, 0.95, 0.7, 0.75, 0.8, 0.85, 0.9]
    whole_run = make_run()
    whole = EarlyStopping(patience=3, restore_best_weights=True)
    feed(whole, whole_run, values)

    first_run = make_run()
    first = EarlyStopping(patience=3)
    feed(first, first_run, values[:5])
    second_run = make_run()
    second = EarlyStopping(patience=3)
    second.on_fit_start(second_run)
    second.load_state_dict(first.state_dict())
    for epoch, value in enumerate(values[5:], start=6):
        second.on_epoch_end(second_run, {"epoch": float(epoch), "val_loss": value})
        if second_run.stopped:
            break
    assert second_run.stopped == whole_run.stopped
    assert second.monitor == whole.monitor


def test_unknown_monitor_lists_the_metrics() -> None:
    run = make_run()
    callback = EarlyStopping(monitor="val_accuracy")
    callback.on_fit_start(run)
    with pytest.raises(LrlabError, match=r"monitor must be one of epoch, val_loss"):
        callback.on_epoch_end(run, {"epoch": 1.0, "val_loss": 1.0})


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: EarlyStopping(patience=-1), "patience"),
        (lambda: EarlyStopping(mode="up"), "mode"),
        (lambda: EarlyStopping(min_delta=-1.0), "min_delta"),
        (lambda: ReduceLROnPlateau(factor=1.5), "factor"),
        (lambda: ReduceLROnPlateau(cooldown=-1), "cooldown"),
    ],
)
def test_bad_settings_name_the_parameter(build: object, param: str) -> None:
    with pytest.raises(LrlabError, match=rf"{param} must be"):
        build()  # type: ignore[operator]


def test_warmup_epochs_of_an_epoch_interval_schedule() -> None:
    run = make_run("warmup(steps=4, start=0.1) >> constant()")
    run = Run(run.model, run.optimizer, run.schedule, FitConfig(interval="epoch"), [1.0], 10)
    assert run.warmup_epochs() == 4
    assert make_run(str(cosine(steps=5))).warmup_epochs() == 0


# --- the loop's calls: order, and an epoch a callback undoes ----------------------------------


class Seen(Callback):
    """Records the epochs whose end it is told of."""

    order = 50

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        self.epochs.append(int(metrics["epoch"]))


class AnswersTrue(Seen):
    """Runs first and returns something that is not a decision."""

    order = 10

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> bool:  # type: ignore[override]
        super().on_epoch_end(run, metrics)
        return True


class UndoSecondEpochOnce(Callback):
    """Undoes epoch 2 the first time it ends, as the divergence guard would."""

    order = 0

    def __init__(self) -> None:
        self.start: Snapshot | None = None
        self.undone = 0

    def on_epoch_start(self, run: Run) -> None:
        self.start = run.snapshot()

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> Rollback | None:
        if metrics["epoch"] == 2 and not self.undone and self.start is not None:
            self.undone += 1
            return Rollback(self.start, "undone once")
        return None


def tiny() -> tuple[Data, nn.Module, torch.optim.Optimizer]:
    data = load_dataset("synthetic-classification(n=200, features=4, classes=2)", val_fraction=0.2)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    return data, model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_a_rollback_undoes_the_epoch_and_later_callbacks_never_see_it() -> None:
    data, model, optimizer = tiny()
    later = Seen()
    config = FitConfig(epochs=3, batch_size=40, device="cpu", quiet=True)
    result = fit(model, data, optimizer, config=config, callbacks=[later, UndoSecondEpochOnce()])
    assert later.epochs == [1, 2, 3]  # the undone epoch 2 reached it once: its retry
    assert [row["epoch"] for row in result.history] == [1.0, 2.0, 3.0]
    assert result.steps == 3 * 4  # the undone epoch's 4 updates do not count


def test_an_answer_that_is_not_a_rollback_changes_nothing() -> None:
    data, model, optimizer = tiny()
    first, second = AnswersTrue(), Seen()
    config = FitConfig(epochs=2, batch_size=40, device="cpu", quiet=True)
    fit(model, data, optimizer, config=config, callbacks=[second, first])
    assert first.epochs == second.epochs == [1, 2]
