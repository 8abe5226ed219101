"""Schedule length against training length: a schedule whose horizon ends long before or after
the run is most likely a mistake (``cosine(steps=1300)`` in a run of 171 steps never decays;
``multistep(milestones=[15, 30])`` over 2 epochs is a constant LR).

The horizon is a schedule's ``duration`` (in its interval's units: optimizer steps, or epochs
with ``train.interval = "epoch"``), or for ``multistep`` its last milestone. A run's length is
in the same units. :func:`horizon_warning` says, in one line, when the horizon is under
:data:`SHORT` or over :data:`LONG` of the run (for ``multistep``: its first milestone is never
reached, or its last is over :data:`LONG` of the run);
``lrlab train`` and ``lrlab compare`` print it before training (as a
:class:`ScheduleHorizonWarning`).
"""

from __future__ import annotations

import math

from lrlab.config import Experiment

SHORT, LONG = 0.5, 1.5  # a horizon under half or over 1.5 times the run is warned about


class ScheduleHorizonWarning(UserWarning):
    """A schedule ends long before or long after the training it drives."""


def run_length(experiment: Experiment, steps_per_epoch: int) -> int:
    """The run's length in its schedule's units: updates, or epochs with ``interval="epoch"``."""
    train = experiment.train
    if train.interval == "epoch":
        return train.epochs if train.steps is None else math.ceil(train.steps / max(1, steps_per_epoch))
    return train.steps if train.steps is not None else train.epochs * steps_per_epoch


def horizon_warning(experiment: Experiment, steps_per_epoch: int) -> str | None:
    """One line when the experiment's schedule ends long before or after its run, else ``None``."""
    from lrlab.schedules import parse
    from lrlab.schedules.families import Multistep

    schedule = parse(experiment.schedule)
    unit = experiment.train.interval
    length = run_length(experiment, steps_per_epoch)
    if length <= 0:
        return None
    shown = f"the schedule {experiment.schedule} (per {unit})"
    run = f"the run's {length} {unit}s"
    if isinstance(schedule, Multistep):
        first, last = min(schedule.milestones), max(schedule.milestones)
        if first >= length:  # never decays: the run is a constant LR
            return (
                f"{shown} decays first at {unit} {first:g}, which {run} never reach: the LR stays "
                "constant. Set its milestones within the run."
            )
        if last > LONG * length:
            return (
                f"{shown} has a milestone at {unit} {last:g}, far past {run}. Set its milestones "
                "within the run."
            )
        return None
    horizon = schedule.duration
    if horizon is None:
        return None
    if horizon < SHORT * length:
        return (
            f"{shown} ends after {horizon:g} {unit}s, {horizon / length:.0%} of {run}; the rest "
            "keeps its final LR. "
            f"Size it to the run{_interval_hint(experiment)}."
        )
    if horizon > LONG * length:
        return (
            f"{shown} runs for {horizon:g} {unit}s, but {run} end at {length / horizon:.0%} of it. "
            f"Size it to the run{_interval_hint(experiment)}."
        )
    return None


def _interval_hint(experiment: Experiment) -> str:
    other = "epoch" if experiment.train.interval == "step" else "step"
    return f", or pass --interval {other} if its numbers count {other}s"
