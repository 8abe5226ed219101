"""Rescaling in time moves every value in steps, in every family and combinator of the catalogue."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab import schedules as s
from lrlab.errors import LrlabError
from lrlab.schedules.base import field_kinds
from lrlab.schedules.kinds import Kind
from tests.schedules.strategies import FAMILY_STRATEGIES, any_family, combinators

CATALOGUE = sorted([*s.FAMILIES, "join"])  # every registered family and combinator, and >>
NOT_STRETCHED = {  # families whose shape is no function of ratios of steps alone
    "inverse_sqrt": "(t + offset) ** -0.5",
    "one_cycle": "its last step is steps - 1, as in torch",
}
FACTORS = st.sampled_from([2, 4, 8, 1024])  # powers of two: k * t and k * steps are exact
times = st.one_of(st.integers(0, 10**6), st.floats(0.0, 1e7))


def _stretches_exactly(schedule: s.Schedule) -> bool:
    """Whether ``rescale(schedule, k)(k * t) == schedule(t)`` (see :func:`lrlab.schedules.rescale`);
    ``cyclic``'s ``exp_range`` has a ``gamma`` per step."""
    if schedule.name in NOT_STRETCHED:
        return False
    return not (isinstance(schedule, s.Cyclic) and schedule.mode == "exp_range")


def _strategy(name: str, inner: st.SearchStrategy[s.Schedule]) -> st.SearchStrategy[s.Schedule]:
    found = {**FAMILY_STRATEGIES, **combinators(inner)}.get(name)
    if found is None:
        pytest.fail(f"{name!r} has no strategy: add one to tests/schedules/strategies.py")
    return found


def _numbers(schedule: s.Schedule) -> list[float]:
    """Every number a schedule holds, nested schedules included (where its steps happen)."""
    found: list[float] = []
    for value in dataclasses.astuple(schedule):
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, s.Schedule):
                found += _numbers(item)
            elif isinstance(item, tuple):
                found += [v for v in item if isinstance(v, (int, float)) and not isinstance(v, bool)]
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                found.append(item)
    return found


def test_piecewise_points_move_with_the_steps() -> None:
    schedule = s.parse("piecewise(points=[[0, 1.0], [100, 0.1]])")
    assert s.rescale(schedule, 2) == s.parse("piecewise(points=[[0, 1.0], [200, 0.1]])")


def test_cycles_are_a_count_not_steps() -> None:
    assert field_kinds(s.CosineRestarts)["cycles"] is Kind.OPTIONAL_COUNT
    assert str(s.rescale(s.cosine_restarts(steps=10, cycles=3), 2)) == "cosine_restarts(steps=20, cycles=3)"


@pytest.mark.parametrize("factor", [0, -1, float("inf"), float("nan"), True, "2"])
def test_the_factor_is_a_positive_number(factor: object) -> None:
    with pytest.raises(LrlabError, match="factor must be a finite number > 0"):
        s.rescale(s.cosine(steps=10), factor)  # type: ignore[arg-type]


def test_the_families_that_do_not_stretch_exist() -> None:
    assert set(NOT_STRETCHED) <= set(s.FAMILIES)


@pytest.mark.parametrize("name", [name for name in CATALOGUE if name not in NOT_STRETCHED])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rescaling_by_k_stretches_the_schedule_k_times(name: str, data: st.DataObject) -> None:
    stretchable = any_family.filter(_stretches_exactly)
    schedule = data.draw(_strategy(name, stretchable).filter(_stretches_exactly))
    k = data.draw(FACTORS)
    stretched = s.rescale(schedule, k)
    edges = [t + d for t in _numbers(schedule) for d in (-0.5, 0, 0.5) if 0 <= t + d <= 1e7]
    for t in [0, 1, *data.draw(st.lists(times, min_size=1, max_size=5)), *edges]:
        assert stretched(k * t) == schedule(t), (str(schedule), str(stretched), t)


@pytest.mark.parametrize("name", CATALOGUE)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rescaling_multiplies_every_value_in_steps(name: str, data: st.DataObject) -> None:
    schedule = data.draw(_strategy(name, any_family))
    k = data.draw(FACTORS)
    _assert_stretched(schedule, s.rescale(schedule, k), k)


def _assert_stretched(before: s.Schedule, after: s.Schedule, k: int) -> None:
    """Each value in steps times ``k`` (so a nonzero one has moved), everything else as it was."""
    assert type(after) is type(before)
    for name, kind in field_kinds(type(before)).items():
        old, new = getattr(before, name), getattr(after, name)
        if kind is Kind.STEPS:
            assert new == k * old
        elif kind is Kind.OPTIONAL_STEPS:
            assert new == (None if old is None else k * old)
        elif kind is Kind.STEPS_LIST:
            assert new == tuple(k * step for step in old)
        elif kind is Kind.POINTS:
            assert new == tuple((k * step, value) for step, value in old)
        elif kind is Kind.SCHEDULE:
            _assert_stretched(old, new, k)
        elif kind is Kind.SCHEDULES:
            for part, moved in zip(old, new, strict=True):
                _assert_stretched(part, moved, k)
        elif kind in (Kind.FLOAT, Kind.BOOL, Kind.TEXT, Kind.COUNT, Kind.OPTIONAL_COUNT):
            assert new == old
        else:
            pytest.fail(f"{type(before).__name__}.{name}: say here how rescaling changes a {kind}")


def test_every_field_of_the_catalogue_has_a_kind() -> None:
    for family in [*s.FAMILIES.values(), s.Join]:
        params = [f.name for f in dataclasses.fields(family) if f.init]
        assert list(field_kinds(family)) == params


def test_a_field_type_without_a_kind_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
    class Odd(s.Schedule):  # no name: not registered
        count: int

    with pytest.raises(TypeError, match=r"Odd\.count: no field kind for <class 'int'>"):
        Odd(count=1)
