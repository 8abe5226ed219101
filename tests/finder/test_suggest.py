"""Every suggestion function on synthetic curves: plateau-descent-blowup (clean and noisy), flat,
immediately divergent, cut short and still falling; the default after a cliff and after a
plateau; the registry; the default's confidence; and the smoothings (debiased EMA, lag-free
trend)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.errors import LrlabError
from lrlab.finder.curve import Curve, ema, noise, trend
from lrlab.finder.suggest import (
    METHODS,
    Descent,
    Suggestion,
    combine,
    edge,
    failure,
    find_descent,
    lag_back,
    lag_rungs,
    minimum,
    register,
    steepest,
    suggest_all,
    valley,
)
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


def test_the_default_stays_between_minimum_and_the_lowest_loss() -> None:
    for momentum in (0.0, 0.9, 0.99):
        c = curve(plateau_descent_blowup(), momentum)
        answer = combine([c])
        bottom = lowest_lr(c)
        assert answer.method == "lrlab" and answer.ok
        assert bottom / 10 - 1e-12 <= (answer.value or 0) <= bottom
        assert answer.confidence is not None and 0 <= answer.confidence <= 1
    # momentum 0.99 would move back 100 rungs: the floor at minimum (÷10) holds it
    assert combine([curve(plateau_descent_blowup(), 0.99)]).value == pytest.approx(
        lowest_lr(curve(plateau_descent_blowup())) / 10
    )


# --- cliff or plateau after the lowest loss: how much of the lag the default moves back ----------


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


def test_after_a_cliff_the_default_moves_back_the_whole_lag_as_edge_does() -> None:
    c = curve(descent_then(after=2), 0.9)
    d = descent_of(c)
    assert failure(d) - d.bottom <= lag_rungs(0.9)  # back above its start within one lag
    assert lag_back(d, 0.9) == 10
    assert combine([c]).value == edge(c).value
    assert "10 of 10 lag steps back" in combine([c]).reason


def test_after_a_wide_plateau_the_default_is_the_lowest_loss() -> None:
    c = curve(descent_then(after=30), 0.9)
    d = descent_of(c)
    assert failure(d) - d.bottom >= 2 * lag_rungs(0.9)  # below its start for two lags and more
    assert lag_back(d, 0.9) == 0
    assert combine([c]).value == c.values[d.bottom]
    assert "0 of 10 lag steps back" in combine([c]).reason


def test_a_shorter_plateau_moves_back_part_of_the_lag_linearly() -> None:
    backs = []
    for after in (8, 12, 16, 20):
        d = descent_of(curve(descent_then(after), 0.9))
        run = failure(d) - d.bottom
        backs.append(lag_back(d, 0.9))
        assert backs[-1] == min(max(2 * 10 - run, 0), 10)
    assert backs == sorted(backs, reverse=True) and 0 < backs[1] < 10 and backs[0] > backs[-1]


def test_without_momentum_the_lag_is_one_step_and_a_plateau_keeps_the_lowest_loss() -> None:
    plateau = curve(descent_then(after=6))
    assert lag_back(descent_of(plateau), 0.0) == 0
    assert combine([plateau]).value == plateau.values[descent_of(plateau).bottom]
    cliff = descent_of(curve(descent_then(after=0)))
    # the centred smoothing already turns up about two widths (2 steps each) before a cliff:
    # one lag step is seen as passed, and the default reads the lowest loss of the trend
    assert failure(cliff) - cliff.bottom > 2 and lag_back(cliff, 0.0) == 0


def test_a_sweep_that_ends_below_its_start_counts_its_run_to_the_end() -> None:
    c = curve(descent_then(after=30, cut=True), 0.9)
    d = descent_of(c)
    assert failure(d) == len(c) - 1 and lag_back(d, 0.9) == 0
    assert "below its start all" in combine([c]).reason
    short = curve(descent_then(after=4, cut=True), 0.9)  # too little seen after it: the full lag
    assert lag_back(descent_of(short), 0.9) == 10


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
        assert 0 <= lag_back(descent, momentum) <= lag_rungs(momentum)
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


def test_noise_estimates_the_per_step_deviation_of_the_log_loss() -> None:
    rng = np.random.default_rng(3)
    losses = list(np.exp(rng.normal(0.0, 0.05, 2000)))
    assert noise(losses) == pytest.approx(0.05, rel=0.1)
