"""From a suggestion to what to train with: an LR, a (base, max) range, schedule specs, and an
optional confirmation by a few short trainings.

The specs are multipliers of the base LR, as every lrlab schedule is: ``schedule`` is meant for
``--lr <lr>``, ``one_cycle`` for ``--lr <max>``. Both are accepted as they are by
``lrlab train --schedule``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lrlab.data import Data
from lrlab.errors import LrlabError, invalid
from lrlab.finder.outcome import RangeTestResult
from lrlab.schedules import cosine, one_cycle, warmup
from lrlab.task import Task
from lrlab.train.loop import fit
from lrlab.train.state import FitConfig

RANGE_FACTOR = 3.0  # the cyclic range spans suggestion / 3 … suggestion × 3 (capped, see below)
WARMUP_SHARE = 0.05  # of the training steps, at least one
CONFIRM_STEP = 3.0  # confirmation trainings are this factor apart


@dataclass(frozen=True)
class Trial:
    """One confirmation training: its LR, its score, and how its fit ended."""

    lr: float
    score: float
    stop_reason: str


@dataclass(frozen=True)
class Confirmation:
    """Short trainings around a suggestion; ``best_lr`` scored best on ``metric``."""

    metric: str
    trials: tuple[Trial, ...]
    best_lr: float


@dataclass(frozen=True)
class Recommendation:
    """What to train with: ``lr`` (or ``None`` with ``reason``), its ``confidence``, a
    ``(base, max)`` range for cyclic and one-cycle schedules, and two ready specs: ``schedule``
    (warmup then cosine, for ``--lr lr``) and ``one_cycle`` (for ``--lr max``; ``None`` under 4 steps)."""

    lr: float | None
    confidence: float
    reason: str
    range: tuple[float, float] | None
    schedule: str | None
    one_cycle: str | None
    steps: int
    confirmation: Confirmation | None = None


def confirm_factors(trainings: int) -> list[float]:
    """The LR factors of ``trainings`` confirmation runs without a cap: powers of 3 around 1,
    lower first (3 → ×1/3, ×1, ×3; 2 → ×1/3, ×1).

    >>> [round(f, 3) for f in confirm_factors(4)]
    [0.111, 0.333, 1.0, 3.0]
    """
    if isinstance(trainings, bool) or not isinstance(trainings, int) or trainings < 1:
        raise invalid("trainings", "an integer >= 1", trainings)
    low = -(trainings // 2)
    return [CONFIRM_STEP**k for k in range(low, low + trainings)]


def confirm_lrs(lr: float, trainings: int, cap: float | None = None) -> list[float]:
    """The ``trainings`` LRs a confirmation tries, lowest first: :func:`confirm_factors` × ``lr``.
    With a ``cap`` below the highest, the trainings above ``lr`` are spread evenly (in log) up to
    the cap instead; with no room above ``lr`` at all, they go further down by factors of 3. There
    are always ``trainings`` of them, and ``lr`` is one.

    >>> [round(x, 3) for x in confirm_lrs(1.0, 3)]
    [0.333, 1.0, 3.0]
    >>> [round(x, 3) for x in confirm_lrs(1.0, 3, cap=2.0)]
    [0.333, 1.0, 2.0]
    >>> [round(x, 3) for x in confirm_lrs(1.0, 3, cap=1.0)]
    [0.111, 0.333, 1.0]
    """
    factors = confirm_factors(trainings)
    if cap is None or lr * factors[-1] <= cap * (1 + 1e-9):
        return [lr * f for f in factors]
    if cap <= lr * (1 + 1e-9):
        return [lr * CONFIRM_STEP**-k for k in range(trainings - 1, -1, -1)]
    below = [lr * f for f in factors if f <= 1]
    above = trainings - len(below)
    step = (cap / lr) ** (1 / above)
    return below + [lr * step**k for k in range(1, above + 1)]


def confirm(
    build: Callable[[float], tuple[nn.Module, torch.optim.Optimizer]],
    data: Data | Task,
    lr: float,
    *,
    trainings: int = 3,
    config: FitConfig | None = None,
    cap: float | None = None,
    lrs: Sequence[float] | None = None,
) -> Confirmation:
    """Train ``trainings`` fresh models (``build(lr)`` gives a model and its optimizer) at
    :func:`confirm_lrs` (or at ``lrs``, when given) with ``config`` (default: 1 epoch) and keep
    the best by validation accuracy (classification) or validation loss (regression). No LR
    above ``cap`` is tried (pass the range test's :attr:`~lrlab.finder.RangeTestResult.lowest`:
    beyond it the sweep saw training break down); :func:`confirm_lrs` says where the trainings
    go instead, all ``trainings`` of them.

    For accuracy the one-standard-error rule decides: the smallest LR whose accuracy is within
    one binomial standard error (``sqrt(p (1 - p) / n)`` of the best, on ``n`` held-out samples)
    of the best. A larger LR must win by more than the split can measure, because near a cliff
    the larger one is the one that fails on the next seed.
    """
    if not (math.isfinite(lr) and lr > 0):
        raise invalid("lr", "a finite number > 0", lr)
    config = config or FitConfig(epochs=1, quiet=True)
    trials, metric = [], "val_loss"
    for rate in confirm_lrs(lr, trainings, cap) if lrs is None else lrs:
        model, optimizer = build(rate)
        result = fit(model, data, optimizer, config=config)
        if result.history and "val_loss" not in result.final:
            raise LrlabError("confirm needs held-out data: the task gives no val_loss; give val batches.")
        metric = "val_acc" if "val_acc" in result.final else metric
        value = result.final.get(metric, math.nan)
        trials.append(Trial(rate, value, result.stop_reason))
    return Confirmation(metric, tuple(trials), _choose(trials, metric, _held_out_size(data)))


def _held_out_size(data: Data | Task) -> int | None:
    """Held-out samples behind the accuracy (``None``: unknown, for a user's task)."""
    if isinstance(data, Task):
        return None
    return len(data.x_val) if data.x_val is not None else len(data.x_test)


def _choose(trials: Sequence[Trial], metric: str, samples: int | None) -> float:
    best = max(trials, key=lambda t: _rank(t.score, metric))
    if metric != "val_acc" or not math.isfinite(best.score) or samples is None:
        return best.lr
    error = math.sqrt(best.score * (1 - best.score) / max(samples, 1))
    return min(t.lr for t in trials if math.isfinite(t.score) and t.score >= best.score - error)


def _rank(score: float, metric: str) -> float:
    if not math.isfinite(score):
        return -math.inf
    return score if metric == "val_acc" else -score


def recommend(
    result: RangeTestResult, steps: int, confirmation: Confirmation | None = None
) -> Recommendation:
    """The recommendation for a training of ``steps`` updates.

    The LR is the confirmed one when there is a confirmation, else the suggestion. The range is
    ``(lr / 3, min(3 lr, peak))`` (:attr:`~lrlab.finder.RangeTestResult.peak`: the lowest loss
    before any spike, moved back for the loss's lag): a cycle never peaks beyond where the sweep
    still saw the loss fall. ``one_cycle`` for ``--lr max`` is what ``lrlab find-lr`` prints to
    train with; ``schedule`` (warmup + cosine, for ``--lr lr``) is the alternative.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise invalid("steps", "an integer >= 2 (the training's updates)", steps)
    answer = result.suggestion
    lr = confirmation.best_lr if confirmation is not None else answer.value
    confidence = answer.confidence or 0.0
    if lr is None:
        return Recommendation(None, 0.0, answer.reason, None, None, None, steps, confirmation)
    base, high = cycle_range(lr, result.peak)
    return Recommendation(
        lr=lr,
        confidence=confidence,
        reason=answer.reason,
        range=(base, high),
        schedule=warmup_cosine(steps),
        one_cycle=one_cycle_spec(steps, base, high),
        steps=steps,
        confirmation=confirmation,
    )


def cycle_range(lr: float, peak: float | None) -> tuple[float, float]:
    """``(lr / 3, min(3 lr, peak))`` (never below ``lr``): the base and the top of a cycle.

    >>> cycle_range(0.1, 0.2)
    (0.03333333333333333, 0.2)
    """
    top = peak or lr * RANGE_FACTOR
    return lr / RANGE_FACTOR, max(min(lr * RANGE_FACTOR, top), lr)


def one_cycle_spec(steps: int, base: float, high: float) -> str | None:
    """``one_cycle(steps=steps, start=base/high)``, for ``--lr high`` (``None`` under 4 steps)."""
    return str(one_cycle(steps=steps, start=_round(base / high))) if steps >= 4 else None


def warmup_cosine(steps: int) -> str:
    """``warmup(steps=W, start=0.1) >> cosine(steps=steps - W, end=0.01)``, ``W`` 5% of steps.

    >>> warmup_cosine(200)
    'warmup(steps=10, start=0.1) >> cosine(steps=190, end=0.01)'
    """
    ramp = max(1, round(WARMUP_SHARE * steps))
    return str(warmup(steps=ramp, start=0.1) >> cosine(steps=steps - ramp, end=0.01))


def _round(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


def confirmation_text(confirmation: Confirmation) -> str:
    """The trainings of a confirmation in one line, the one kept marked.

    >>> confirmation_text(Confirmation("val_acc", (Trial(0.01, 0.9, ""), Trial(0.03, 0.95, "")), 0.03))
    'confirmed by val_acc: lr 0.01 → 0.9, lr 0.03 → 0.95 (kept)'
    """
    shown = [
        f"lr {t.lr:.3g} → {t.score:.4g}" if math.isfinite(t.score) else f"lr {t.lr:.3g} → diverged"
        for t in confirmation.trials
    ]
    kept = [i for i, t in enumerate(confirmation.trials) if t.lr == confirmation.best_lr]
    for i in kept[:1]:
        shown[i] += " (kept)"
    return f"confirmed by {confirmation.metric}: " + ", ".join(shown)
