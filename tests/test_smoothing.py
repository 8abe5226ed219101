"""The one smoothing and divergence rule: the debiased EMA, the burn-in, losses that are not
finite, negative losses, and the state a checkpoint keeps."""

from __future__ import annotations

import math

import pytest

from lrlab.smoothing import Divergence, Ema, ema


def test_the_ema_is_debiased_from_the_first_value() -> None:
    assert ema([3.0] * 5) == pytest.approx([3.0] * 5)
    average = Ema(0.9)
    values = [average.add(v) for v in (1.0, 2.0)]
    assert values == pytest.approx([1.0, (0.9 * 0.1 + 0.1 * 2.0) / (1 - 0.81)])
    assert ema([1.0, 2.0], beta=0.9) == values


def test_a_spike_counts_only_after_the_burn_in() -> None:
    losses = [1.0, 1.0, 100.0, 100.0]
    early = Divergence(beta=0.0, threshold=4.0, burn_in=2)
    assert [early(loss)[1] is not None for loss in losses] == [False, False, True, True]
    late = Divergence(beta=0.0, threshold=4.0, burn_in=4)
    assert [late(loss)[1] for loss in losses] == [None] * 4
    _, reason = late(100.0)
    assert reason == "smoothed loss 100 > 4 × best 1"


def test_a_loss_that_is_not_finite_diverges_at_once_and_is_not_taken_in() -> None:
    rule = Divergence(beta=0.5, threshold=4.0, burn_in=10)
    rule(2.0)
    smoothed, reason = rule(math.nan)
    assert math.isnan(smoothed) and reason == "loss nan"
    assert rule.state_dict() == {"average": 1.0, "count": 1, "best": 2.0}


def test_negative_losses_diverge_by_their_distance_from_the_best() -> None:
    rule = Divergence(beta=0.0, threshold=2.0, burn_in=0)
    assert rule(-4.0)[1] is None and rule(-1.0)[1] is None  # within |best| of the best
    assert rule(0.5)[1] is not None  # more than |best| above it


def test_the_state_round_trips() -> None:
    first = Divergence(beta=0.9, threshold=4.0, burn_in=0)
    for loss in (3.0, 2.0, 1.5):
        first(loss)
    second = Divergence(beta=0.9, threshold=4.0, burn_in=0)
    second.load_state_dict(first.state_dict())
    assert second(1.2) == first(1.2)
