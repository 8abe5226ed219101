"""Every suggestion function on synthetic curves: plateau-descent-blowup (clean and noisy), flat,
immediately divergent, cut short and still falling; the default after a cliff and after a
plateau, with and without momentum; the registry; the default's confidence; and the smoothings
(debiased EMA, lag-free trend and its reach)."""

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
    METHODS,
    Suggestion,
    combine,
    edge,
    failed,
    failure,
    lag_rungs,
    margin,
    minimum,
    register,
    stable_step,
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


def ceiling(c: Curve) -> float:
    """The highest LR the default may read: a margin before the failure (the lowest loss when the
    loss never came back to its start), and never below edge."""
    d = descent_of(c)
    top = max(failure(d) - margin(c), d.bottom - lag_rungs(c.momentum))
    return c.values[max(min(top, d.bottom) if not failed(d) else top, 0)]


def test_the_default_stays_between_minimum_and_a_margin_before_the_failure() -> None:
    for momentum in (0.0, 0.9, 0.99):
        c = curve(plateau_descent_blowup(), momentum)
        answer = combine([c])
        assert answer.method == "lrlab" and answer.ok
        floor = lowest_lr(c) / 10
        assert floor - 1e-12 <= (answer.value or 0) <= max(ceiling(c), floor)
        assert answer.confidence is not None and 0 <= answer.confidence <= 1
    # momentum 0.99 would move back 100 rungs: the floor at minimum (÷10) holds it
    assert combine([curve(plateau_descent_blowup(), 0.99)]).value == pytest.approx(
        lowest_lr(curve(plateau_descent_blowup())) / 10
    )


# --- cliff or plateau after the lowest loss: where the default reads --------------------------


def descent_then(after: int, cut: bool = False) -> list[float]:
    """A descent from 2.3 to its lowest near rung 60, a slow rise for ``after`` rungs (a
    plateau), then a jump to 6 (above the start) - or, with ``cut``, the sweep ends there."""
    x = np.arange(100, dtype=np.float64)
    loss = 2.3 - 1.8 / (1.0 + np.exp(-(x - 45.0) / 3.0))
    loss = np.where(x > 60, loss * (1.0 + 0.01 * (x - 60)), loss)
    loss = np.where(x > 60 + after, 6.0, loss)
    return list(loss[: 61 + after] if cut else loss)


def descent_of(c: Curve) -> Descent:
    descent = find_descent(c)
    assert not isinstance(descent, str), descent
    return descent


def test_the_margin_is_two_lags_but_never_finer_than_the_trend() -> None:
    assert reach(100) == 6 and reach(200) == 12  # the trend's kernel: 3 widths of n/50 steps
    for momentum, expected in ((0.0, 6), (0.5, 6), (0.8, 10), (0.9, 20), (0.95, 40)):
        assert margin(curve(descent_then(30), momentum)) == expected
    long = Curve.of(list(np.geomspace(1e-6, 10.0, 200)), descent_then(30) * 2, 0.0)
    assert margin(long) == 12  # in steps of the trend, so the same share of the ladder


def test_after_a_cliff_the_default_moves_back_the_whole_lag_as_edge_does() -> None:
    c = curve(descent_then(after=2), 0.9)
    d = descent_of(c)
    assert failure(d) - d.bottom <= lag_rungs(0.9)  # back above its start within one lag
    assert stable_step(c, d) == d.bottom - 10
    assert combine([c]).value == edge(c).value
    assert "read 10 steps below the lowest loss" in combine([c]).reason


def test_after_a_wide_plateau_the_default_reads_a_margin_before_the_failure() -> None:
    c = curve(descent_then(after=30), 0.9)
    d = descent_of(c)
    assert failed(d) and failure(d) - d.bottom > 2 * lag_rungs(0.9)  # below its start 2 lags on
    assert stable_step(c, d) == failure(d) - 20 > d.bottom  # above the lowest loss
    assert combine([c]).value == c.values[failure(d) - 20]
    assert d.trend[stable_step(c, d)] < d.trend[d.start]  # still well below its start there
    assert "margin 20 steps (lag 10): read 10 steps above the lowest loss" in combine([c]).reason


def test_the_longer_the_plateau_the_higher_the_default_reads() -> None:
    steps = []
    for after in (8, 12, 16, 20, 30):
        c = curve(descent_then(after), 0.9)
        d = descent_of(c)
        steps.append(stable_step(c, d) - d.bottom)
        assert steps[-1] == max(failure(d) - 20, d.bottom - 10) - d.bottom
    assert steps == sorted(steps) and steps[0] == -10 and -10 < steps[2] < 0 < steps[-1]


def test_without_momentum_the_margin_is_the_trend_reach() -> None:
    # the centred trend turns up about two widths before a cliff; one lag step and one to spare
    # (two steps) would read right at the failure: the trend's reach (6 steps) keeps it off it
    cliff = curve(descent_then(after=0))
    d = descent_of(cliff)
    assert failure(d) - d.bottom == 6 and stable_step(cliff, d) == d.bottom
    plateau = curve(descent_then(after=12))
    d = descent_of(plateau)
    assert stable_step(plateau, d) == failure(d) - 6 > d.bottom
    assert combine([plateau]).value == plateau.values[failure(d) - 6]


def test_a_sweep_that_ends_below_its_start_reads_no_higher_than_the_lowest_loss() -> None:
    c = curve(descent_then(after=30, cut=True), 0.9)
    d = descent_of(c)
    assert failure(d) == len(c) - 1 and not failed(d)  # no failure seen: no bound above
    assert stable_step(c, d) == d.bottom
    assert "below its start all" in combine([c]).reason and "at the lowest loss" in combine([c]).reason
    short = curve(descent_then(after=4, cut=True), 0.9)  # too little seen after it: the full lag
    assert stable_step(short, descent_of(short)) == descent_of(short).bottom - 10
    still = curve(descent_then(after=30, cut=True))  # without momentum too: the lowest loss
    assert stable_step(still, descent_of(still)) == descent_of(still).bottom


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
    picks = sorted(combine([s]).value or 0 for s in shifted)
    assert mixed.value == pytest.approx(picks[1])
    flat = curve([2.3] * 100)
    broken = combine([a, flat])
    assert broken.ok and broken.confidence == 0 and "1 of 2 sweeps found no descent" in broken.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=120), st.floats(0.0, 0.99))
def test_any_finite_curve_gets_an_lr_in_range_or_a_reason(losses: list[float], momentum: float) -> None:
    c = curve(losses, momentum)
    descent = find_descent(c)
    if not isinstance(descent, str):
        step = stable_step(c, descent)
        assert max(descent.bottom - lag_rungs(momentum), 0) <= step <= len(c) - 1
        bound = max(failure(descent) - margin(c), descent.bottom) if failed(descent) else descent.bottom
        assert step <= bound
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
