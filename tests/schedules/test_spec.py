"""Spec strings: the documented examples, canonical printing, errors, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab import schedules as s
from lrlab.errors import LrlabError

CANONICAL = [
    "warmup(steps=5, start=0.0) >> cosine(steps=15, end=0.0333)",
    "multistep(milestones=[15, 30], gamma=0.5)",
    "inverse_sqrt(offset=1)",
    "exponential(gamma=0.96, every=10000, staircase=true)",
    'wsd(steps=1000, decay_steps=100, shape="cosine", end=0.0)',
    "scale(cosine_restarts(steps=10, mult=2.0), factor=0.9, add=0.1)",
    "floor(warmup(steps=2, start=0.1) >> linear(steps=3), value=0.2)",
    "skip(cosine(steps=10), steps=3)",
    "take(cosine(steps=10, periodic=true), steps=5) >> constant(value=0.0)",
    'piecewise(points=[[0, 1.0], [10, 0.5]], interpolate="linear")',
    'one_cycle(steps=100, shape="linear", three_phase=true)',
    'cyclic(steps_up=2000, start=0.1, mode="exp_range", gamma=0.99994)',
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_specs_round_trip_exactly(text: str) -> None:
    schedule = s.parse(text)
    assert str(schedule) == text
    assert s.parse(str(schedule)) == schedule


def test_documented_examples_mean_what_they_say() -> None:
    cosine = s.parse(CANONICAL[0])
    assert cosine.values(6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert cosine(20) == 0.0333
    assert s.parse(CANONICAL[1]).values(31)[14:] == [1.0] + [0.5] * 15 + [0.25]
    assert s.parse(CANONICAL[2])(3) == 0.5  # (t + 1) ** -0.5
    staircase = s.parse(CANONICAL[3])
    assert staircase(9999) == 1.0 and staircase(10000) == 0.96
    assert s.parse(CANONICAL[4])(1000) == 0.0


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("cosine( steps = 15 ,end=1 )", "cosine(steps=15, end=1.0)"),
        ("cosine(steps=15.0)", "cosine(steps=15)"),
        ("cosine(steps=15, end=0.0)  # floor at zero", "cosine(steps=15)"),
        ("warmup(steps=5, start=0)>>constant()", "warmup(steps=5, start=0.0) >> constant()"),
        ("exponential(gamma=1e-1, staircase=false)", "exponential(gamma=0.1)"),
        (
            "wsd(steps=10, decay_steps=2, shape='cosine', end=0)",
            'wsd(steps=10, decay_steps=2, shape="cosine", end=0.0)',
        ),
        ("scale(schedule=linear(steps=2), factor=1)", "scale(linear(steps=2), factor=1.0)"),
        ("cosine_restarts(steps=3, cycles=none)", "cosine_restarts(steps=3)"),
    ],
)
def test_equivalent_spellings_print_one_canonical_form(text: str, canonical: str) -> None:
    assert str(s.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cosin(steps=10)", "unknown schedule 'cosin'; did you mean 'cosine'?"),
        ("cosine(stpes=10)", "unknown cosine() parameter 'stpes'; did you mean 'steps'?"),
        ("cosine()", "cosine() needs steps=…"),
        ("cosine(10)", "takes keyword arguments"),
        ("cosine(steps=10, steps=5)", "got 'steps' twice"),
        ("cosine(steps=10", "expected ',' or ')'"),
        ("cosine(steps=10))", "unexpected ')'"),
        ("cosine(steps=10) >>", "expected a name"),
        ("constant() >> cosine(steps=3)", "runs forever"),
        ("cosine(steps=@)", "unexpected character '@'"),
        ("", "the spec is empty"),
        ("cosine(steps=" + "9" * 5000 + ")", "too long"),
        ("cosine(steps=1e999)", "steps must be a finite number"),
        ("scale(1, factor=2)", "schedule must be a schedule"),
        ("multistep(milestones=[[1]])", "milestones must be a number"),
        ('wsd(steps=10, decay_steps=2, shape="cos", end=0.0)', "shape must be one of"),
        ("[" * 100, "expected a name"),
        ("scale(" * 100 + "constant()" + ")" * 100, "nesting deeper than"),
    ],
)
def test_bad_specs_name_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(LrlabError) as caught:
        s.parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        s.parse("cosin(steps=1)")


def test_parse_passes_schedules_through_and_rejects_other_types() -> None:
    schedule = s.cosine(steps=3)
    assert s.parse(schedule) is schedule
    with pytest.raises(LrlabError, match="must be a string"):
        s.parse(3)  # type: ignore[arg-type]


TOKENS = st.sampled_from(
    [
        *s.FAMILIES,
        "(",
        ")",
        "[",
        "]",
        ",",
        "=",
        ">>",
        "steps",
        "end",
        "start",
        "gamma",
        "true",
        "none",
        "0",
        "1",
        "-1",
        "9" * 400,
        "0.5",
        "1e9",
        "1e-320",
        '"cosine"',
        "'exp'",
        " ",
        "#",
        "@",
        "milestones",
        "points",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=80))
def test_random_text_gives_a_schedule_or_an_lrlab_error(text: str) -> None:
    with contextlib.suppress(LrlabError):
        assert isinstance(s.parse(text), s.Schedule)


@settings(max_examples=3000, deadline=None)
@given(tokens=st.lists(TOKENS, max_size=30))
def test_random_token_soup_gives_a_schedule_or_an_lrlab_error(tokens: list[str]) -> None:
    try:
        schedule = s.parse("".join(tokens))
    except LrlabError:
        return
    assert s.parse(str(schedule)) == schedule
