"""from_keras: Keras 3 schedules, against PARITY.md and re-derived formulas."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

import pytest

from lrlab.errors import LrlabError
from lrlab.schedules.dialects import from_keras
from tests.schedules.dialect_checks import assert_formula, assert_round_trip, assert_row

# --- PARITY.md reference values (B.1-B.4, B.11) ----------------------------------------------

TABLE = [
    (
        "CosineDecay",
        {"initial_learning_rate": 0.01, "decay_steps": 7, "warmup_target": 1.0, "warmup_steps": 3},
        ".01, .34, .67, 1, .9505, .8117, .6113, .3887, .1883, .0495, 0, 0",
    ),
    (  # alpha is not scaled by m_mul: the second cycle starts at .55
        "CosineDecayRestarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 4, "m_mul": 0.5, "alpha": 0.1},
        "1, .8682, .55, .2318, .55",
    ),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 1.0, "decay_steps": 10, "end_learning_rate": 0.0},
        "1, .9, .8, .7, .6, .5, .4, .3, .2, .1, 0, 0",
    ),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 1.0, "decay_steps": 4, "end_learning_rate": 0.0, "cycle": True},
        "1, .75, .5, .25, 0, .375, .25, .125, 0, .25",
    ),
    (  # the boundary belongs to the left piece: the first decay is at s = 4
        "PiecewiseConstantDecay",
        {"boundaries": [3, 6], "values": [1.0, 0.1, 0.01]},
        "1, 1, 1, 1, .1, .1, .1, .01, .01",
    ),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 1.0, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
        "1, 1, 1, .5, .5, .5, .25",
    ),
]


@pytest.mark.parametrize(("name", "config", "row"), TABLE)
def test_parity_table(name: str, config: dict[str, object], row: str) -> None:
    assert_row(from_keras(name, **config), row)


def test_parity_notes() -> None:
    # B.2: alpha is a fraction of the peak (warmup_target), and the curve is clamped after W + D.
    decay = from_keras("CosineDecay", initial_learning_rate=0.0, decay_steps=5, alpha=0.1, warmup_target=2.0)
    assert decay.values(3, start=5) == [0.1, 0.1, 0.1]
    # B.3: the default end_learning_rate=1e-4 is kept, so the decay does not reach 0.
    assert from_keras("PolynomialDecay", initial_learning_rate=0.1, decay_steps=10)(20) == pytest.approx(1e-3)


# --- the formulas of keras/src/optimizers/schedules/learning_rate_schedule.py, re-derived ------


def ref_cosine_decay(
    initial: float, steps: float, alpha: float = 0.0, target: float | None = None, warmup: float = 0
) -> Callable[[int], float]:
    def decayed(s: float, peak: float) -> float:
        return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / steps)) + alpha)

    def f(s: int) -> float:
        if target is None:
            return decayed(min(s, steps), initial)
        s = min(s, steps + warmup)
        if s < warmup:
            return (target - initial) * (s / warmup) + initial
        return decayed(s - warmup, target)

    return f


def ref_restarts(
    initial: float, steps: float, t_mul: float = 2.0, m_mul: float = 1.0, alpha: float = 0.0
) -> Callable[[int], float]:
    def f(s: int) -> float:
        done = s / steps
        if t_mul == 1:
            restart = math.floor(done)
            done -= restart
        else:
            restart = math.floor(math.log(1 - done * (1 - t_mul)) / math.log(t_mul))
            done = (done - (1 - t_mul**restart) / (1 - t_mul)) / t_mul**restart
        wave = 0.5 * m_mul**restart * (1 + math.cos(math.pi * done))
        return initial * ((1 - alpha) * wave + alpha)

    return f


def ref_exponential(initial: float, steps: float, rate: float, staircase: bool) -> Callable[[int], float]:
    return lambda s: initial * rate ** (math.floor(s / steps) if staircase else s / steps)


def ref_inverse_time(initial: float, steps: float, rate: float, staircase: bool) -> Callable[[int], float]:
    return lambda s: initial / (1 + rate * (math.floor(s / steps) if staircase else s / steps))


def ref_piecewise(boundaries: list[int], values: list[float]) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s <= boundaries[0]:
            return values[0]
        if s > boundaries[-1]:
            return values[-1]
        return next(v for (lo, hi), v in zip(pairwise(boundaries), values[1:], strict=False) if lo < s <= hi)

    return f


def ref_polynomial(
    initial: float, steps: float, end: float, power: float, cycle: bool
) -> Callable[[int], float]:
    def f(s: int) -> float:
        if cycle:
            horizon = steps * (1 if s == 0 else math.ceil(s / steps))
            return (initial - end) * (1 - s / horizon) ** power + end
        return (initial - end) * (1 - min(s, steps) / steps) ** power + end

    return f


CASES: list[tuple[str, dict[str, object], float, Callable[[int], float]]] = [
    # name, config (lr= included when not the natural base), the base, the absolute LR formula
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 1000}, 0.1, ref_cosine_decay(0.1, 1000)),
    (
        "CosineDecay",
        {"initial_learning_rate": 1e-3, "decay_steps": 777, "alpha": 0.1, "lr": 2e-3, "name": "decay"},
        2e-3,
        ref_cosine_decay(1e-3, 777, 0.1),
    ),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 900,
            "alpha": 0.05,
            "warmup_target": 1e-3,
            "warmup_steps": 100,
        },
        1e-3,
        ref_cosine_decay(0.0, 900, 0.05, 1e-3, 100),
    ),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.5, "decay_steps": 300, "warmup_target": 0.1, "warmup_steps": 10},
        0.1,
        ref_cosine_decay(0.5, 300, 0.0, 0.1, 10),
    ),
    (
        "CosineDecay",
        {"initial_learning_rate": 1e-5, "decay_steps": 50, "warmup_target": 1e-3, "warmup_steps": 1},
        1e-3,
        ref_cosine_decay(1e-5, 50, 0.0, 1e-3, 1),
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 1e-3, "first_decay_steps": 100, "m_mul": 0.9, "alpha": 0.05},
        1e-3,
        ref_restarts(1e-3, 100, 2.0, 0.9, 0.05),
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 7, "t_mul": 1.0, "m_mul": 0.5, "lr": 4.0},
        4.0,
        ref_restarts(1.0, 7, 1.0, 0.5),
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 33, "t_mul": 1.5},
        0.1,
        ref_restarts(0.1, 33, 1.5),
    ),
    *[
        (
            "ExponentialDecay",
            {"initial_learning_rate": 0.1, "decay_steps": d, "decay_rate": r, "staircase": st},
            0.1,
            ref_exponential(0.1, d, r, st),
        )
        for d, r, st in [(100, 0.96, False), (100, 0.96, True), (1, 0.999, False), (2.5, 0.5, True)]
    ],
    *[
        (
            "InverseTimeDecay",
            {"initial_learning_rate": 0.1, "decay_steps": d, "decay_rate": r, "staircase": st},
            0.1,
            ref_inverse_time(0.1, d, r, st),
        )
        for d, r, st in [(10, 0.5, False), (10, 0.5, True), (1, 0.01, False)]
    ],
    (
        "PiecewiseConstantDecay",
        {"boundaries": [100, 250, 600], "values": [1e-3, 5e-4, 1e-4, 1e-5]},
        1e-3,
        ref_piecewise([100, 250, 600], [1e-3, 5e-4, 1e-4, 1e-5]),
    ),
    (
        "PiecewiseConstantDecay",
        {"boundaries": [0], "values": [0.5, 0.25], "lr": 1.0},
        1.0,
        ref_piecewise([0], [0.5, 0.25]),
    ),
    *[
        (
            "PolynomialDecay",
            {"initial_learning_rate": i, "decay_steps": d, "end_learning_rate": e, "power": p, "cycle": c},
            i,
            ref_polynomial(i, d, e, p, c),
        )
        for i, d, e, p, c in [
            (0.1, 500, 1e-4, 1.0, False),
            (1.0, 300, 0.01, 0.5, True),
            (1e-3, 999, 0.0, 3.0, False),
            (0.1, 7, 1e-4, 2.0, True),
        ]
    ],
]


@pytest.mark.parametrize(("name", "config", "base", "reference"), CASES)
def test_matches_the_formula_step_for_step(
    name: str, config: dict[str, object], base: float, reference: Callable[[int], float]
) -> None:
    assert_formula(from_keras(name, **config), lambda s: reference(s) / base)


@pytest.mark.parametrize(("name", "config"), [case[:2] for case in CASES])
def test_spec_round_trip(name: str, config: dict[str, object]) -> None:
    assert_round_trip(from_keras(name, **config))


def test_specs_read_as_compositions() -> None:
    restarts = from_keras("CosineDecayRestarts", initial_learning_rate=1.0, first_decay_steps=10, alpha=0.1)
    assert str(restarts) == "scale(cosine_restarts(steps=10, mult=2.0), factor=0.9, add=0.1)"
    halved = from_keras("ExponentialDecay", initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, lr=0.2)
    assert str(halved) == "scale(exponential(gamma=0.5, every=10), factor=0.5)"


# --- bad input -----------------------------------------------------------------------------------

COSINE = {"initial_learning_rate": 0.1, "decay_steps": 10}
BAD = [
    ("cosinedecay", {}, "did you mean 'CosineDecay'"),
    ("CosineDecay", {"initial_learning_rate": 0.1}, "needs decay_steps"),
    ("CosineDecay", {**COSINE, "decay_steps": 0}, "decay_steps must be > 0"),
    ("CosineDecay", {**COSINE, "decay_step": 10}, "did you mean 'decay_steps'"),
    ("CosineDecay", {**COSINE, "alpha": -0.1}, "alpha must be >= 0"),
    ("CosineDecay", {**COSINE, "initial_learning_rate": 0.0}, "initial_learning_rate must be > 0"),
    ("CosineDecay", {**COSINE, "warmup_target": 0.0}, "warmup_target must be > 0"),
    ("CosineDecay", {**COSINE, "lr": 0.0}, "lr must be a finite number > 0"),
    ("CosineDecay", {**COSINE, "decay_steps": "10"}, "decay_steps must be a finite number"),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1}, "needs first_decay_steps"),
    ("CosineDecayRestarts", {**COSINE}, "did you mean 'first_decay_steps'"),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 1, "first_decay_steps": 5, "t_mul": 0.5},
        "t_mul must be >= 1",
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 1, "first_decay_steps": 5, "m_mul": 2},
        "m_mul must be in",
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 1, "first_decay_steps": 5, "alpha": 2},
        "alpha must be in",
    ),
    ("ExponentialDecay", {**COSINE, "decay_rate": 1.5}, "decay_rate must be in (0, 1]"),
    (
        "ExponentialDecay",
        {**COSINE, "decay_rate": 0.5, "staircase": "yes"},
        "staircase must be True or False",
    ),
    ("InverseTimeDecay", {**COSINE, "decay_rate": -1}, "decay_rate must be >= 0"),
    ("PiecewiseConstantDecay", {"boundaries": [3], "values": [1.0]}, "values must be one longer"),
    ("PiecewiseConstantDecay", {"boundaries": [3.5], "values": [1.0, 0.1]}, "boundaries must be"),
    ("PiecewiseConstantDecay", {"boundaries": [5, 3], "values": [1, 0.1, 0.01]}, "strictly increasing"),
    ("PiecewiseConstantDecay", {"boundaries": [], "values": [1.0]}, "non-empty list"),
    ("PiecewiseConstantDecay", {"boundaries": [3], "values": [0.0, 0.1]}, "first LR is > 0"),
    ("PolynomialDecay", {**COSINE, "power": 0}, "power must be > 0"),
    ("PolynomialDecay", {**COSINE, "end_learning_rate": -1}, "end_learning_rate must be >= 0"),
]


@pytest.mark.parametrize(("name", "config", "message"), BAD)
def test_bad_input_names_the_argument(name: str, config: dict[str, object], message: str) -> None:
    with pytest.raises(LrlabError) as error:
        from_keras(name, **config)  # type: ignore[arg-type]
    assert message in str(error.value)
