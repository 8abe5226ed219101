"""Properties every schedule must have, checked with hypothesis over all families."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab import schedules as s
from lrlab.errors import LrlabError
from tests.schedules.strategies import FAMILY_STRATEGIES, any_family, composed, finite_family

far_steps = st.one_of(st.integers(0, 10**12), st.floats(0.0, 1e12))


def test_every_family_has_a_strategy() -> None:
    assert set(FAMILY_STRATEGIES) == set(s.FAMILIES) - {"scale", "floor", "skip", "take"}


@pytest.mark.parametrize("name", sorted(FAMILY_STRATEGIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_finite_and_non_negative_up_to_1e12(name: str, data: st.DataObject) -> None:
    schedule = data.draw(FAMILY_STRATEGIES[name])
    for step in [0, 1, 10**12, data.draw(far_steps), data.draw(far_steps)]:
        value = schedule(step)
        assert math.isfinite(value) and value >= 0, (str(schedule), step, value)


@settings(max_examples=300, deadline=None)
@given(schedule=composed(), step=far_steps)
def test_compositions_finite_and_non_negative(schedule: s.Schedule, step: float) -> None:
    value = schedule(step)
    assert math.isfinite(value) and value >= 0


@settings(max_examples=300, deadline=None)
@given(schedule=composed())
def test_spec_round_trip(schedule: s.Schedule) -> None:
    text = str(schedule)
    again = s.parse(text)
    assert again == schedule
    assert str(again) == text
    assert repr(schedule) == text


@settings(max_examples=200, deadline=None)
@given(schedule=composed(), steps=st.lists(far_steps, max_size=5))
def test_pickle_round_trip(schedule: s.Schedule, steps: list[float]) -> None:
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy == schedule and hash(copy) == hash(schedule)
    assert [copy(t) for t in steps] == [schedule(t) for t in steps]


@settings(max_examples=200, deadline=None)
@given(first=finite_family, second=any_family, step=st.floats(0, 1e7))
def test_join_hands_local_time_to_the_second_part(first: s.Schedule, second: s.Schedule, step: float) -> None:
    joined = first >> second
    assert first.duration is not None
    if step < first.duration:
        assert joined(step) == first(step)
    else:
        assert joined(step) == second(step - first.duration)
    tail = second.duration
    assert joined.duration == (None if tail is None else first.duration + tail)


@settings(max_examples=100, deadline=None)
@given(a=finite_family, b=finite_family, c=any_family)
def test_join_is_associative(a: s.Schedule, b: s.Schedule, c: s.Schedule) -> None:
    assert (a >> b) >> c == a >> (b >> c) == s.join(a, b, c)
    assert str((a >> b) >> c) == f"{a} >> {b} >> {c}"


def test_join_needs_a_finite_first_part() -> None:
    with pytest.raises(LrlabError, match="runs forever"):
        s.constant() >> s.cosine(steps=3)


# -- exact endpoints ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(steps=st.integers(1, 10**6), start=st.floats(0, 10), end=st.floats(0, 10))
def test_linear_and_cosine_hit_their_endpoints_exactly(steps: int, start: float, end: float) -> None:
    for family in (s.linear, s.cosine):
        schedule = family(steps=steps, start=start, end=end)
        assert schedule(0) == start
        assert schedule(steps) == end
        assert schedule(steps * 10) == end


@settings(max_examples=100, deadline=None)
@given(steps=st.integers(1, 10**6), end=st.floats(0, 1), power=st.floats(0.1, 5))
def test_polynomial_and_wsd_end_exactly(steps: int, end: float, power: float) -> None:
    assert s.polynomial(steps=steps, power=power, end=end)(steps) == end
    assert s.polynomial(steps=steps, power=power, end=end)(0) == 1.0
    wsd = s.wsd(steps=steps, decay_steps=max(1, steps // 2), end=end)
    assert wsd(0) == 1.0 and wsd(steps) == end


@settings(max_examples=100, deadline=None)
@given(
    steps=st.integers(1, 10**6),
    start=st.floats(1e-6, 1.0),
    shape=st.sampled_from(["linear", "exp", "cosine", "1-sqrt"]),
)
def test_warmup_starts_at_start_and_reaches_one(steps: int, start: float, shape: str) -> None:
    schedule = s.warmup(steps=steps, start=start, shape=shape)
    assert schedule(0) == start
    assert schedule(steps) == 1.0


@settings(max_examples=100, deadline=None)
@given(steps=st.integers(10, 10**6), start=st.floats(0, 1), end=st.floats(0, 1))
def test_one_cycle_endpoints(steps: int, start: float, end: float) -> None:
    schedule = s.one_cycle(steps=steps, start=start, end=end)
    assert schedule(0) == start
    assert schedule(steps - 1) == end == schedule(10 * steps)
    peak = 0.3 * steps - 1
    assert schedule(peak) == pytest.approx(1.0, rel=1e-12)


def test_cosine_restarts_peaks_at_each_cycle_start() -> None:
    schedule = s.cosine_restarts(steps=3, mult=2, decay=0.5, end=0.1)
    assert [schedule(t) for t in (0, 3, 9, 21)] == [1.0, 0.5, 0.25, 0.125]
    limited = s.cosine_restarts(steps=3, mult=2, end=0.1, cycles=2)
    assert limited.duration == 9 and limited(9) == 0.1 and limited(10**12) == 0.1


def test_piecewise_points_are_exact() -> None:
    points = [[0, 1.0], [10, 0.3], [20, 0.05]]
    for mode in ("constant", "linear"):
        schedule = s.piecewise(points=points, interpolate=mode)
        assert [schedule(p[0]) for p in points] == [p[1] for p in points]
    assert s.piecewise(points=points)(19.9) == 0.3
    assert s.piecewise(points=points, interpolate="linear")(15) == pytest.approx(0.175)


# -- monotone where promised -------------------------------------------------------------

DECREASING = ["step", "multistep", "exponential", "inverse_time", "inverse_sqrt", "wsd"]


@pytest.mark.parametrize("name", DECREASING)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_decaying_families_never_increase(name: str, data: st.DataObject) -> None:
    schedule = data.draw(FAMILY_STRATEGIES[name])
    steps = sorted(data.draw(st.lists(far_steps, min_size=2, max_size=20)))
    values = [schedule(t) for t in steps]
    assert all(a >= b for a, b in itertools.pairwise(values))


@settings(max_examples=100, deadline=None)
@given(
    steps=st.integers(1, 10**6),
    hi=st.floats(0, 10),
    lo=st.floats(0, 10),
    power=st.floats(0.1, 5),
    data=st.data(),
)
def test_decays_from_start_to_end_never_increase(
    steps: int, hi: float, lo: float, power: float, data: st.DataObject
) -> None:
    start, end = max(hi, lo), min(hi, lo)
    times = sorted(data.draw(st.lists(far_steps, min_size=2, max_size=20)))
    for schedule in (
        s.linear(steps=steps, start=start, end=end),
        s.cosine(steps=steps, start=start, end=end),
        s.polynomial(steps=steps, power=power, end=min(end, 1.0)),
    ):
        values = [schedule(t) for t in times]
        assert all(a >= b for a, b in itertools.pairwise(values)), str(schedule)


@settings(max_examples=100, deadline=None)
@given(schedule=FAMILY_STRATEGIES["warmup"], data=st.data())
def test_warmup_never_decreases(schedule: s.Schedule, data: st.DataObject) -> None:
    times = sorted(data.draw(st.lists(far_steps, min_size=2, max_size=20)))
    values = [schedule(t) for t in times]
    assert all(a <= b for a, b in itertools.pairwise(values))


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: s.cosine(steps=0), "steps"),
        (lambda: s.cosine(steps=10, end=-0.1), "end"),
        (lambda: s.step(every=10, gamma=1.5), "gamma"),
        (lambda: s.multistep(milestones=[30, 10]), "milestones"),
        (lambda: s.multistep(milestones=[]), "milestones"),
        (lambda: s.exponential(gamma=0.0), "gamma"),
        (lambda: s.inverse_sqrt(offset=0), "offset"),
        (lambda: s.warmup(steps=5, start=1.5), "start"),
        (lambda: s.warmup(steps=5, start=0.0, shape="exp"), "start"),
        (lambda: s.warmup(steps=5, start=0.0, shape="sigmoid"), "shape"),
        (lambda: s.wsd(steps=10, decay_steps=20, end=0.0), "decay_steps"),
        (lambda: s.one_cycle(steps=100, peak_at=1.2), "peak_at"),
        (lambda: s.cyclic(steps_up=10, start=0.1, mode="sine"), "mode"),
        (lambda: s.cosine_restarts(steps=10, mult=0.5), "mult"),
        (lambda: s.piecewise(points=[[5, 1.0], [5, 0.5]]), "points"),
        (lambda: s.piecewise(points=[[5, 1.0, 3]]), "points"),
        (lambda: s.cosine(steps=float("nan")), "steps"),
        (lambda: s.cosine(steps="10"), "steps"),
        (lambda: s.linear(steps=10, start=True), "start"),
        (lambda: s.scale(s.linear(steps=3), factor=-1.0), "factor"),
        (lambda: s.skip(s.linear(steps=3), steps=3), "steps"),
    ],
)
def test_bad_arguments_name_the_parameter(build: object, param: str) -> None:
    with pytest.raises(LrlabError, match=rf"\b{param} must be"):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("step", [-1, float("nan"), float("inf")])
def test_bad_steps_are_rejected(step: float) -> None:
    with pytest.raises(LrlabError, match="step must be"):
        s.cosine(steps=10)(step)
