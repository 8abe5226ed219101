"""Hypothesis strategies: one valid schedule of every family, and compositions of them."""

from __future__ import annotations

from hypothesis import strategies as st

from lrlab import schedules as s

durations = st.one_of(st.integers(1, 10**6), st.floats(0.5, 1e6))
fractions = st.floats(0.0, 1.0)
multipliers = st.floats(0.0, 10.0)
gammas = st.floats(1e-6, 1.0)


@st.composite
def _milestones(draw: st.DrawFn) -> list[int]:
    return sorted(draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=6)))


@st.composite
def _points(draw: st.DrawFn) -> list[list[float]]:
    steps = sorted(set(draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=6))))
    return [[step, draw(multipliers)] for step in steps]


@st.composite
def _one_cycle(draw: st.DrawFn) -> s.Schedule:
    three_phase = draw(st.booleans())
    steps = draw(st.integers(10, 10**6))
    peak_at = draw(st.floats(0.11, 0.45 if three_phase else 0.9))
    return s.one_cycle(
        steps=steps,
        peak_at=peak_at,
        start=draw(fractions),
        end=draw(fractions),
        shape=draw(st.sampled_from(["cosine", "linear"])),
        three_phase=three_phase,
    )


@st.composite
def _wsd(draw: st.DrawFn) -> s.Schedule:
    steps = draw(st.integers(1, 10**6))
    shape = draw(st.sampled_from(["linear", "cosine", "1-sqrt", "exponential"]))
    end = draw(st.floats(1e-6, 1.0) if shape == "exponential" else fractions)
    return s.wsd(steps=steps, decay_steps=draw(st.integers(1, steps)), shape=shape, end=end)


@st.composite
def _warmup(draw: st.DrawFn) -> s.Schedule:
    shape = draw(st.sampled_from(["linear", "exp", "cosine", "1-sqrt"]))
    start = draw(st.floats(1e-6, 1.0) if shape == "exp" else fractions)
    return s.warmup(steps=draw(durations), start=start, shape=shape)


FAMILY_STRATEGIES: dict[str, st.SearchStrategy[s.Schedule]] = {
    "constant": st.builds(s.constant, value=multipliers, steps=st.none() | durations),
    "step": st.builds(s.step, every=durations, gamma=fractions),
    "multistep": st.builds(s.multistep, milestones=_milestones(), gamma=fractions),
    "exponential": st.builds(s.exponential, gamma=gammas, every=durations, staircase=st.booleans()),
    "inverse_time": st.builds(s.inverse_time, rate=multipliers, every=durations, staircase=st.booleans()),
    "inverse_sqrt": st.builds(s.inverse_sqrt, offset=durations),
    "polynomial": st.builds(
        s.polynomial, steps=durations, power=st.floats(0.1, 5.0), end=fractions, cycle=st.booleans()
    ),
    "linear": st.builds(s.linear, steps=durations, start=multipliers, end=multipliers),
    "cosine": st.builds(s.cosine, steps=durations, end=fractions, start=multipliers, periodic=st.booleans()),
    "cosine_restarts": st.builds(
        s.cosine_restarts,
        steps=durations,
        mult=st.sampled_from([1, 2, 3]) | st.floats(1.0, 4.0),
        decay=st.floats(0.01, 1.0),
        end=fractions,
        cycles=st.none() | st.integers(1, 20) | st.floats(1.0, 20.0),
    ),
    "one_cycle": _one_cycle(),
    "cyclic": st.builds(
        s.cyclic,
        steps_up=durations,
        start=fractions,
        steps_down=st.none() | durations,
        peak=multipliers,
        mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
        gamma=gammas,
    ),
    "wsd": _wsd(),
    "piecewise": st.builds(
        s.piecewise, points=_points(), interpolate=st.sampled_from(["constant", "linear"])
    ),
    "warmup": _warmup(),
}

any_family = st.one_of(*FAMILY_STRATEGIES.values())
finite_family = any_family.filter(lambda schedule: schedule.duration is not None)


@st.composite
def _skip(draw: st.DrawFn, inner: st.SearchStrategy[s.Schedule]) -> s.Schedule:
    schedule = draw(inner.filter(lambda schedule: schedule.duration is None or schedule.duration > 1))
    length = schedule.duration
    steps = durations if length is None else st.floats(0.5, min(length, 1e6), exclude_max=True)
    return s.skip(schedule, steps=draw(steps))


def _join(head: list[s.Schedule], last: s.Schedule) -> s.Schedule:
    return s.join(*head, last)


def combinators(inner: st.SearchStrategy[s.Schedule]) -> dict[str, st.SearchStrategy[s.Schedule]]:
    """One strategy per combinator (``join`` for ``>>``), over schedules drawn from ``inner``."""
    taken = st.builds(s.take, inner, steps=durations)
    head = inner.filter(lambda schedule: schedule.duration is not None) | taken
    return {
        "scale": st.builds(s.scale, inner, factor=multipliers, add=fractions),
        "floor": st.builds(s.floor, inner, value=fractions),
        "skip": _skip(inner),
        "take": taken,
        "join": st.builds(_join, st.lists(head, min_size=1, max_size=3), inner),
    }


def composed() -> st.SearchStrategy[s.Schedule]:
    """A family, or a ``>>`` chain, ``scale``, ``floor``, ``skip`` or ``take`` of families."""
    return st.one_of(any_family, *combinators(any_family).values())
