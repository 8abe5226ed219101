"""Every suggestion function on synthetic curves: plateau-descent-blowup (clean and noisy), flat,
immediately divergent, cut short and still falling; the default's two bounds (a cliff soon after
the fall, slow progress far past it, a separate early fall) and its lean when unsure; the
registry; the default's confidence; and the smoothings (debiased EMA, lag-free trend, reach)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.errors import LrlabError
from lrlab.finder.curve import Curve, noise, reach, trend
from lrlab.finder.descent import Descent, find_descent
from lrlab.finder.suggest import (
    ABOVE_STEEPEST,
    BELOW_LOWEST,
    LEAN,
    LOW_CONFIDENCE,
    METHODS,
    NEAR_DECADES,
    Suggestion,
    combine,
    edge,
    lag_rungs,
    minimum,
    near_steepest,
    peak_step,
    register,
    safe_lr,
    settled_bottom,
    steepest,
    suggest_all,
    valley,
)
from lrlab.smoothing import ema
from tests.finder.conftest import LADDER, plateau_descent_blowup

SINGLE = (steepest, valley, minimum, edge)


def curve(losses: list[float], momentum: float = 0.0, values: np.ndarray = LADDER) -> Curve:
    return Curve.of(list(values[: len(losses)]), losses, momentum)


def decades(a: float, b: float) -> float:
    return abs(math.log10(a / b))


def lowest_lr(c: Curve) -> float:
    descent = find_descent(c)
    assert not isinstance(descent, str)
    return c.values[descent.bottom]


# --- plateau, descent, blow-up ----------------------------------------------------------------


def test_each_method_lands_where_its_rule_says_on_a_clean_curve() -> None:
    c = curve(plateau_descent_blowup())
    bottom = lowest_lr(c)
    assert 0.03 < bottom < 0.12  # the loss is lowest just before the blow-up at 0.1
    assert decades(steepest(c).value or 0, 1e-3) < 0.15  # the descent is steepest at its centre
    assert minimum(c).value == pytest.approx(bottom / 10)
    low = valley(c).value or 0
    assert 1e-5 < low < bottom  # inside the descent
    assert edge(c).index == find_descent(c).bottom - 1  # type: ignore[union-attr]


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.95])
def test_edge_moves_back_by_the_lag_of_measuring_and_momentum(momentum: float) -> None:
    c = curve(plateau_descent_blowup(), momentum)
    bottom = find_descent(c).bottom  # type: ignore[union-attr]
    assert lag_rungs(momentum) == round(1 / (1 - momentum))
    assert edge(c).index == bottom - lag_rungs(momentum)


def descent_of(c: Curve) -> Descent:
    descent = find_descent(c)
    assert not isinstance(descent, str), descent
    return descent


def falls(*centres: tuple[float, float], cliff: float = 0.1, slope: float = 0.0) -> list[float]:
    """2.3, less a sigmoid fall of ``depth`` centred at each ``(centre, depth)`` (3 per decade),
    less ``slope`` per decade after the last fall (slow progress), then a blow-up after ``cliff``."""
    x = np.log10(LADDER)
    loss = np.full_like(x, 2.3)
    for centre, depth in centres:
        loss -= depth / (1.0 + np.exp(-(x - np.log10(centre)) * 3.0))
    loss -= slope * np.clip(x - np.log10(centres[-1][0]), 0.0, None)
    blowup = np.exp(np.clip((x - np.log10(cliff)) * 4.0, None, 30.0)) - 1.0
    return list(loss + np.where(x > np.log10(cliff), blowup, 0.0))


def bounds(c: Curve) -> tuple[float, float]:
    """The default's two bounds: the lowest loss's LR / 3, and 2 × the steepest fall near it."""
    d = descent_of(c)
    return c.values[d.bottom] / BELOW_LOWEST, ABOVE_STEEPEST * c.values[near_steepest(c, d)]


def test_the_default_is_the_lower_of_its_two_bounds_and_leans_lower_when_unsure() -> None:
    for momentum in (0.0, 0.9, 0.99):
        c = curve(plateau_descent_blowup(), momentum)
        answer = combine([c])
        assert answer.method == "lrlab" and answer.ok and answer.confidence is not None
        assert safe_lr(c, descent_of(c)) == pytest.approx(min(bounds(c)))
        lean = LEAN if answer.confidence < LOW_CONFIDENCE else 1.0
        assert answer.value == pytest.approx(min(bounds(c)) / lean)


def test_a_cliff_soon_after_the_fall_is_read_a_third_below_the_lowest_loss() -> None:
    c = curve(falls((1e-2, 1.8), cliff=0.03))
    low, steep = bounds(c)
    assert low < steep and 0.02 < c.values[descent_of(c).bottom] < 0.05
    answer = combine([c])
    assert answer.value == pytest.approx(low / (LEAN if (answer.confidence or 0) < LOW_CONFIDENCE else 1))
    assert "÷ 3" in answer.reason


def test_slow_progress_far_past_the_steep_fall_is_read_at_twice_the_steepest() -> None:
    # an adaptive optimizer: the loss falls at 1e-3, then creeps down for more than a decade
    c = curve(falls((1e-3, 1.5), cliff=0.1, slope=0.1))
    low, steep = bounds(c)
    assert steep < low and decades(steep / ABOVE_STEEPEST, 1e-3) < 0.15
    assert safe_lr(c, descent_of(c)) == pytest.approx(steep)
    assert "steepest fall" in combine([c]).reason


def test_a_separate_fall_far_below_the_lowest_loss_is_not_the_steepest_near_it() -> None:
    # a new head learns at 1e-5, the whole model at 1e-2: the first fall is the steeper
    c = curve(falls((1e-5, 1.2), (1e-2, 0.8), cliff=0.05))
    d = descent_of(c)
    assert decades(steepest(c).value or 0, 1e-5) < 0.2  # the single method reads the first
    assert decades(c.values[near_steepest(c, d)], 1e-2) < 0.2  # the default the one near the lowest
    assert c.values[d.bottom] / c.values[near_steepest(c, d)] < 10**NEAR_DECADES


def spiked(height: float = 1.3) -> list[float]:
    """A fall from 2.3 to 1.0 (1e-4 to 3e-3), flat, a spike to ``height`` at 1.5e-2, flat again,
    a lower loss (0.7 at 0.1), then a blow-up: a transformer's curve with Adam."""
    points = [(-6, 2.3), (-4, 2.3), (-2.5, 1.0), (-2.0, 1.0), (-1.82, height), (-1.6, 1.0), (-1.0, 0.7),
              (-0.7, 0.7), (0.0, 30.0), (1.0, 30.0)]  # fmt: skip
    x, y = zip(*points, strict=True)
    return list(np.interp(np.log10(LADDER), x, y))


def test_a_loss_spike_ends_the_stable_region_even_when_the_loss_falls_lower_after_it() -> None:
    c = curve(spiked())
    d = descent_of(c)
    assert c.values[d.bottom] > 0.05  # the lowest loss comes after the spike
    settled = c.values[settled_bottom(d)]
    assert 3e-3 <= settled < 1.5e-2  # the lowest before the spike
    assert (combine([c]).value or 0) <= settled / BELOW_LOWEST * (1 + 1e-9)
    assert "a loss spike after" in combine([c]).reason
    small = curve(spiked(height=1.02))  # a 2 % wobble is not a spike
    assert settled_bottom(descent_of(small)) == descent_of(small).bottom


def test_noise_on_the_first_plateau_is_not_a_spike() -> None:
    rng = np.random.default_rng(0)
    noisy = np.array(falls((1e-3, 1.8), cliff=0.05))
    noisy[:30] *= np.exp(rng.normal(0, 0.15, 30))  # 15 % per step before the fall
    d = descent_of(curve(list(noisy)))
    assert settled_bottom(d) == d.bottom


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_peak_is_the_settled_bottom_moved_back_for_lag(momentum: float) -> None:
    c = curve(spiked(), momentum)
    d = descent_of(c)
    assert peak_step(c, d) == settled_bottom(d) - lag_rungs(momentum)


def test_low_confidence_leans_lower_and_says_so() -> None:
    c = curve(falls((1e-2, 1.8), cliff=0.03))
    sure = combine([c])
    for k in range(4):
        register(f"far-away-{k}")(lambda c: Suggestion("far-away", c.values[0], 0, "the first LR"))
    try:
        unsure = combine([c])
    finally:
        for k in range(4):
            del METHODS[f"far-away-{k}"]
    assert unsure.confidence is not None and unsure.confidence < LOW_CONFIDENCE
    assert unsure.value == pytest.approx(safe_lr(c, descent_of(c)) / LEAN)
    assert "low confidence: leaning lower" in unsure.reason
    assert sure.confidence is not None and unsure.confidence < sure.confidence


@pytest.mark.parametrize("method", [steepest, valley, minimum, edge, combine])
def test_noise_moves_no_suggestion_by_more_than_a_third_of_a_decade(method: object) -> None:
    answers = []
    for seed in range(8):
        c = curve(plateau_descent_blowup(noise=0.03, seed=seed), 0.9)
        answer = method([c]) if method is combine else method(c)  # type: ignore[operator]
        assert answer.ok, answer.reason
        answers.append(answer.value)
    assert math.log10(max(answers) / min(answers)) < 0.34


# --- no usable descent ------------------------------------------------------------------------


def assert_none(c: Curve, words: str) -> None:
    for method in SINGLE:
        answer = method(c)
        assert answer.value is None and answer.index is None and words in answer.reason, answer
    answer = combine([c])
    assert (
        answer.value is None and answer.reason.startswith("no reliable suggestion") and words in answer.reason
    )


def test_a_flat_curve_has_no_suggestion() -> None:
    rng = np.random.default_rng(0)
    assert_none(curve(list(2.3 * np.exp(rng.normal(0, 0.01, 100)))), "within its noise")
    assert_none(curve([2.3] * 100), "within its noise")


def test_a_curve_rising_from_the_start_has_no_suggestion() -> None:
    rising = list(2.3 * np.exp(np.linspace(0, 3, 100)))
    assert_none(curve(rising), "rose from the first LRs")


def test_a_sweep_that_diverged_at_once_has_no_suggestion() -> None:
    c = curve([2.3, 2.5, 9.0, math.inf, math.nan])
    assert len(c) == 3  # cut at the first non-finite loss
    assert_none(c, "only 3 finite losses")


def test_a_curve_still_falling_at_the_end_halves_the_confidence() -> None:
    full = plateau_descent_blowup()
    falling = curve(full[:60])  # stops before the bottom (near 0.1, rung 86)
    answer = combine([falling])
    assert answer.ok and "still falling" in answer.reason
    whole = combine([curve(full)])
    assert answer.confidence is not None and whole.confidence is not None
    assert answer.confidence <= whole.confidence / 2 + 1e-9


# --- the registry and the default's confidence --------------------------------------------------


def test_suggest_runs_every_registered_method_and_rejects_unknown_names() -> None:
    c = curve(plateau_descent_blowup())
    answers = suggest_all(c)
    assert set(answers) == set(METHODS) >= {"steepest", "valley", "minimum", "edge", "lrlab"}
    assert all(isinstance(a, Suggestion) and a.method == name for name, a in answers.items())
    with pytest.raises(LrlabError, match="did you mean 'valley'"):
        suggest_all(c, ["vally"])


def test_a_registered_method_counts_in_the_confidence() -> None:
    c = curve(plateau_descent_blowup(), 0.9)
    before = combine([c]).confidence
    register("far-away")(lambda c: Suggestion("far-away", c.values[0], 0, "the first LR"))
    try:
        after = combine([c]).confidence
        assert "far-away" in suggest_all(c)
    finally:
        del METHODS["far-away"]
    assert before is not None and after is not None and after < before


def test_repeated_sweeps_that_disagree_lower_the_confidence_and_take_the_median() -> None:
    a = curve(plateau_descent_blowup(noise=0.01, seed=1), 0.9)
    same = combine([a, a, a])
    assert same.value == pytest.approx(combine([a]).value)
    assert same.confidence == combine([a]).confidence
    shifted = [curve(plateau_descent_blowup(centre=c), 0.9) for c in (1e-4, 1e-3, 1e-2)]
    # the blow-up sits at 0.1 in all three; the descent moves: the lowest loss moves with it a bit
    mixed = combine(shifted)
    picks = sorted(safe_lr(s, descent_of(s)) for s in shifted)
    lean = LEAN if (mixed.confidence or 0) < LOW_CONFIDENCE else 1.0
    assert mixed.value == pytest.approx(picks[1] / lean)
    flat = curve([2.3] * 100)
    broken = combine([a, flat])
    assert broken.ok and broken.confidence == 0 and "1 of 2 sweeps found no descent" in broken.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=120), st.floats(0.0, 0.99))
def test_any_finite_curve_gets_an_lr_in_range_or_a_reason(losses: list[float], momentum: float) -> None:
    c = curve(losses, momentum)
    descent = find_descent(c)
    if not isinstance(descent, str):
        assert (combine([c]).value or 0) <= safe_lr(c, descent) * (1 + 1e-9)
        assert safe_lr(c, descent) <= c.values[descent.bottom] / BELOW_LOWEST * (1 + 1e-9)
    for answer in [*(m(c) for m in SINGLE), combine([c])]:
        if answer.value is None:
            assert answer.reason.startswith("no reliable suggestion")
        else:
            assert c.values[0] / 10 - 1e-15 <= answer.value <= c.values[-1]


# --- smoothings -------------------------------------------------------------------------------


def test_ema_is_debiased() -> None:
    assert ema([3.0] * 5, beta=0.98) == pytest.approx([3.0] * 5)
    assert ema([1.0, 2.0, 3.0], beta=0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])


def test_the_trend_has_no_lag_where_the_ema_has_a_lot() -> None:
    x = np.linspace(-1, 1, 101)
    dip = list(2.0 - np.exp(-((x / 0.1) ** 2)))  # lowest at index 50
    assert int(np.argmin(trend(dip))) == 50
    assert int(np.argmin(ema(dip))) > 55


def test_the_trend_blends_a_step_with_its_reach_on_either_side() -> None:
    spike = [1.0] * 101
    spike[50] = math.e
    touched = np.flatnonzero(np.abs(trend(spike)) > 1e-12)
    assert touched.min() == 50 - reach(101) and touched.max() == 50 + reach(101)
    assert Curve.of(list(LADDER), spike[:100]).reach == reach(100) == 6


def test_noise_estimates_the_per_step_deviation_of_the_log_loss() -> None:
    rng = np.random.default_rng(3)
    losses = list(np.exp(rng.normal(0.0, 0.05, 2000)))
    assert noise(losses) == pytest.approx(0.05, rel=0.1)
