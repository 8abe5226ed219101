"""A study's budget: at most ``--trials`` finished trials and ``--budget-epochs`` training epochs
in all, counted from the trials' own records.

Epochs spent are the ``epochs`` user attributes of all trials but those never run (marked
``over_budget``): a trial records its epochs after every one, so a pruned, failed or killed trial
counts what it trained. A trial's length is ``train.epochs × folds``; a running or queued trial
holds its whole length. A trial starts only when its length fits in what the others leave, so the
study never trains more than its budget and never starts a trial it could not finish. Parallel
workers settle races by trial number: a trial is admitted against the trials numbered before it
(:meth:`Budget.refusal`). With ``train.epochs`` searched a trial's length is known once drawn: a
drawn trial that does not fit is not run, and the next starts only when its epochs are free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from optuna.trial import FrozenTrial, TrialState

from lrlab.config import Experiment
from lrlab.tune.space import SearchSpace

OVER_BUDGET = "over_budget"  # a user attribute: why the trial was not run ("trials" or "epochs")
EPOCHS = "epochs"  # a user attribute: the epochs a trial has trained, all folds together
EPOCHS_KEY = "train.epochs"  # searched under this Optuna name when [search] has it
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
PENDING = (TrialState.RUNNING, TrialState.WAITING)
LIVE = (*FINISHED, *PENDING)
Step = Literal["start", "wait", "stop"]


@dataclass(frozen=True)
class Limits:
    """When a study stops: at ``trials`` finished trials or ``epochs`` training epochs (``None``:
    no such limit)."""

    trials: int | None
    epochs: int | None

    def describe(self) -> str:
        """``30 trials``, ``at most 300 training epochs`` or both."""
        parts = [f"{self.trials} trials"] if self.trials is not None else []
        parts += [f"at most {self.epochs} training epochs"] if self.epochs is not None else []
        return ", ".join(parts)


@dataclass(frozen=True)
class Lengths:
    """Trial lengths in training epochs (``train.epochs × folds``), ``train.epochs`` drawn per
    trial when it is searched."""

    fewest: int
    most: int
    folds: int
    searched: bool

    @classmethod
    def of(cls, space: SearchSpace, cv: int) -> Lengths:
        """The lengths of the trials of ``space`` with ``cv`` folds (0: a validation split)."""
        low, high = space.epochs_range()
        folds = max(1, cv)
        return cls(low * folds, high * folds, folds, space.searches(EPOCHS_KEY))

    def of_experiment(self, experiment: Experiment) -> int:
        """The length of a trial that trains ``experiment``."""
        return experiment.train.epochs * self.folds

    def of_trial(self, trial: FrozenTrial) -> int:
        """``trial``'s length: from its drawn ``train.epochs``, the longest before it is drawn."""
        if not self.searched:
            return self.fewest
        drawn = trial.params.get(EPOCHS_KEY)
        return self.most if drawn is None else int(drawn) * self.folds


def epochs_of(trial: FrozenTrial) -> int:
    """The epochs ``trial`` has trained (0 when it was never run)."""
    return 0 if trial.user_attrs.get(OVER_BUDGET) else int(trial.user_attrs.get(EPOCHS, 0))


def epochs_spent(trials: Sequence[FrozenTrial]) -> int:
    """The training epochs of ``trials``, pruned, failed and running ones included."""
    return sum(epochs_of(trial) for trial in trials)


@dataclass(frozen=True)
class Budget:
    """A study's :class:`Limits` and the :class:`Lengths` of its trials."""

    limits: Limits
    lengths: Lengths

    def planned_trials(self) -> int:
        """A trial count for what needs one (TPE's start-up trials, the workers): the trial
        limit, or as many of the shortest trials as the epochs hold (at least 1)."""
        counts = [self.limits.trials] if self.limits.trials is not None else []
        if self.limits.epochs is not None:
            counts.append(self.limits.epochs // self.lengths.fewest)
        return max(1, min(counts))

    def trials_left(self, trials: Sequence[FrozenTrial]) -> int:
        """About how many trials the study has yet to run (for the worker count)."""
        counts = []
        if self.limits.trials is not None:
            counts.append(self.limits.trials - sum(t.state in FINISHED for t in trials))
        left = self.epochs_left(trials)
        if left is not None:
            counts.append(left // self.lengths.fewest)
        return min(counts)

    def epochs_left(self, trials: Sequence[FrozenTrial]) -> int | None:
        """The epoch budget less the epochs of the done ``trials`` and the lengths of the running
        and queued ones; ``None`` without an epoch budget."""
        if self.limits.epochs is None:
            return None
        spent = epochs_spent([t for t in trials if t.state not in PENDING])
        pending = [t for t in trials if t.state in PENDING and not t.user_attrs.get(OVER_BUDGET)]
        held = sum(self.lengths.of_trial(t) for t in pending)
        return self.limits.epochs - spent - held

    def next_step(self, trials: Sequence[FrozenTrial]) -> Step:
        """What a worker does next, given the study's ``trials``: ``start`` a trial, ``wait`` for
        running ones to finish (or give epochs back), or ``stop`` as the study is done."""
        steps = {self._by_trials(trials), self._by_epochs(trials)}
        return "stop" if "stop" in steps else "wait" if "wait" in steps else "start"

    def _by_trials(self, trials: Sequence[FrozenTrial]) -> Step:
        limit = self.limits.trials
        if limit is None:
            return "start"
        if sum(t.state in FINISHED for t in trials) >= limit:
            return "stop"
        queued = any(t.state == TrialState.WAITING for t in trials)
        return "start" if queued or sum(t.state in LIVE for t in trials) < limit else "wait"

    def _by_epochs(self, trials: Sequence[FrozenTrial]) -> Step:
        left = self.epochs_left(trials)
        if left is None or any(t.state == TrialState.WAITING for t in trials):
            return "start"  # a queued trial runs next, and is admitted or not (refusal)
        if left >= self._next_length(trials):
            return "start"
        return "wait" if any(t.state == TrialState.RUNNING for t in trials) else "stop"

    def _next_length(self, trials: Sequence[FrozenTrial]) -> int:
        """The epochs the next trial needs: the shortest trial's; with ``train.epochs`` searched
        and the newest trial drawn too long, that trial's (drawing again until one fits could
        go on for long)."""
        newest = max(trials, key=lambda t: t.number, default=None)
        if self.lengths.searched and newest is not None and newest.user_attrs.get(OVER_BUDGET) == "epochs":
            return self.lengths.of_trial(newest)
        return self.lengths.fewest

    def refusal(self, number: int, length: int, trials: Sequence[FrozenTrial]) -> str | None:
        """Why trial ``number`` of ``length`` epochs may not run, judged against the trials
        numbered before it: ``"trials"`` (the study has its trials), ``"epochs"`` (it does not
        fit in the epochs left), or ``None`` when it may run."""
        ahead = [t for t in trials if t.number < number]
        if self.limits.trials is not None and sum(t.state in LIVE for t in ahead) >= self.limits.trials:
            return "trials"
        left = self.epochs_left(ahead)
        if left is not None and length > left:
            return "epochs"
        return None
