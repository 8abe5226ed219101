"""from_timm: timm's schedulers (per-update), against PARITY.md and re-derived formulas."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

import pytest

from lrlab.errors import LrlabError
from lrlab.schedules.dialects import from_timm
from tests.schedules.dialect_checks import assert_formula, assert_round_trip, assert_row

# --- PARITY.md reference values (B.1-B.4, B.11; base 1) --------------------------------------

WARM = {"t_initial": 10, "warmup_t": 3, "warmup_lr_init": 0.01, "lr": 1.0}
TABLE = [
    ("cosine", WARM, ".01, .34, .67, .7939, .6545, .5, .3455, .2061, .0955, .0245, 0, 0"),
    (
        "cosine",
        {**WARM, "warmup_prefix": True},
        ".01, .34, .67, 1, .9755, .9045, .7939, .6545, .5, .3455, .2061, .0955, .0245, 0",
    ),
    (
        "cosine",
        {"t_initial": 4, "cycle_limit": 3, "cycle_decay": 0.5},
        "1, .854, .5, .146, .5, .427, .25, .073, .25, .2134, .125, .0366, 0, 0",
    ),
    ("poly", {"t_initial": 10, "power": 1.0}, "1, .9, .8, .7, .6, .5, .4, .3, .2, .1, 0, 0"),
    ("step", {"decay_t": 3, "decay_rate": 0.1}, "1, 1, 1, .1, .1, .1, .01"),
    ("multistep", {"decay_t": [3, 6], "decay_rate": 0.1}, "1, 1, .1, .1, .1, .01, .01"),
]


@pytest.mark.parametrize(("name", "kwargs", "row"), TABLE)
def test_parity_table(name: str, kwargs: dict[str, object], row: str) -> None:
    assert_row(from_timm(name, **kwargs), row)


def test_parity_notes() -> None:
    # B.3: the poly class default is power=0.5.
    assert_row(from_timm("poly", t_initial=4), "1, .866, .7071, .5, 0")
    # B.2: k_decay is measured but not expressible: refused, naming the option.
    with pytest.raises(LrlabError, match="k_decay"):
        from_timm("cosine", t_initial=10, k_decay=2.0)


# --- the formulas of timm/scheduler/*.py, re-derived ---------------------------------------------


def ref_cycles(
    base: float,
    t_initial: float,
    shape: Callable[[float], float],
    *,
    lr_min: float = 0.0,
    mul: float = 1.0,
    decay: float = 1.0,
    limit: int = 1,
    warmup: float = 0,
    init: float = 0.0,
    prefix: bool = False,
) -> Callable[[int], float]:
    """Cosine/poly: ``lr_min + (peak_i - lr_min) * shape(t_curr / t_i)``, with timm's cycle index."""

    def lr(t: float) -> float:
        if t < warmup:
            return init + t * (base - init) / warmup
        if prefix:
            t -= warmup
        if mul != 1:
            i = math.floor(math.log(1 - t / t_initial * (1 - mul), mul))
            length = mul**i * t_initial
            t_curr = t - (1 - mul**i) / (1 - mul) * t_initial
        else:
            i = int(t // t_initial)
            length, t_curr = t_initial, t - t_initial * i
        if i >= limit:
            return lr_min
        return lr_min + (base * decay**i - lr_min) * shape(t_curr / length)

    return lambda t: lr(t) / base


def half_cosine(x: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * x))


def poly(power: float) -> Callable[[float], float]:
    return lambda x: (1 - x) ** power


def ref_step(
    decay_t: float, rate: float, *, warmup: float = 0, init: float = 0.0, prefix: bool = True
) -> Callable[[int], float]:
    def f(t: int) -> float:
        if t < warmup:
            return init + t * (1 - init) / warmup
        return rate ** ((t - warmup if prefix else t) // decay_t)

    return f


def ref_multistep(
    decay_t: list[int], rate: float, *, warmup: float = 0, prefix: bool = True
) -> Callable[[int], float]:
    def f(t: int) -> float:
        if t < warmup:
            return t / warmup
        return rate ** bisect_right(decay_t, (t - warmup if prefix else t) + 1)

    return f


CASES: list[tuple[str, dict[str, object], Callable[[int], float]]] = [
    ("cosine", {"t_initial": 1000}, ref_cycles(1.0, 1000, half_cosine)),
    (
        "cosine",
        {"t_initial": 300, "lr_min": 1e-5, "warmup_t": 50, "warmup_lr_init": 1e-6, "lr": 1e-3},
        ref_cycles(1e-3, 300, half_cosine, lr_min=1e-5, warmup=50, init=1e-6),
    ),
    (
        "cosine",
        {
            "t_initial": 300,
            "lr_min": 1e-5,
            "warmup_t": 50,
            "warmup_lr_init": 1e-6,
            "warmup_prefix": True,
            "lr": 1e-3,
        },
        ref_cycles(1e-3, 300, half_cosine, lr_min=1e-5, warmup=50, init=1e-6, prefix=True),
    ),
    (
        "cosine",
        {
            "t_initial": 100,
            "cycle_mul": 2.0,
            "cycle_decay": 0.5,
            "cycle_limit": 4,
            "lr_min": 1e-6,
            "lr": 1e-3,
        },
        ref_cycles(1e-3, 100, half_cosine, lr_min=1e-6, mul=2.0, decay=0.5, limit=4),
    ),
    (
        "cosine",
        {"t_initial": 10, "cycle_limit": 200, "cycle_decay": 0.99, "warmup_t": 5},
        ref_cycles(1.0, 10, half_cosine, limit=200, decay=0.99, warmup=5),
    ),
    (
        "cosine",
        {"t_initial": 50, "cycle_mul": 1.5, "cycle_limit": 5, "warmup_t": 20, "warmup_prefix": True},
        ref_cycles(1.0, 50, half_cosine, mul=1.5, limit=5, warmup=20, prefix=True),
    ),
    ("cosine", {"t_initial": 1000, "warmup_t": 2000}, ref_cycles(1.0, 1000, half_cosine, warmup=2000)),
    ("cosine", {"t_initial": 10, "warmup_t": 10}, ref_cycles(1.0, 10, half_cosine, warmup=10)),
    (
        "cosine",
        {"t_initial": 10, "warmup_t": 4, "warmup_lr_init": 2.0, "lr": 1.0},
        ref_cycles(1.0, 10, half_cosine, warmup=4, init=2.0),
    ),
    ("poly", {"t_initial": 1000}, ref_cycles(1.0, 1000, poly(0.5))),
    (
        "poly",
        {"t_initial": 200, "power": 2.0, "lr_min": 1e-4, "warmup_t": 20, "warmup_lr_init": 1e-5, "lr": 0.1},
        ref_cycles(0.1, 200, poly(2.0), lr_min=1e-4, warmup=20, init=1e-5),
    ),
    (
        "poly",
        {"t_initial": 100, "power": 1.0, "cycle_mul": 2.0, "cycle_decay": 0.7, "cycle_limit": 3},
        ref_cycles(1.0, 100, poly(1.0), mul=2.0, decay=0.7, limit=3),
    ),
    (
        "poly",
        {"t_initial": 64, "cycle_limit": 10, "cycle_decay": 0.9, "warmup_t": 16, "warmup_prefix": True},
        ref_cycles(1.0, 64, poly(0.5), decay=0.9, limit=10, warmup=16, prefix=True),
    ),
    (
        "poly",
        {"t_initial": 40, "cycle_mul": 1.5, "cycle_limit": 6, "lr_min": 0.01, "lr": 0.5, "warmup_t": 30},
        ref_cycles(0.5, 40, poly(0.5), lr_min=0.01, mul=1.5, limit=6, warmup=30),
    ),
    ("step", {"decay_t": 30, "decay_rate": 0.1}, ref_step(30, 0.1)),
    ("step", {"decay_t": 2.5, "decay_rate": 0.9}, ref_step(2.5, 0.9)),
    (
        "step",
        {"decay_t": 100, "decay_rate": 0.5, "warmup_t": 5, "warmup_lr_init": 1e-3, "lr": 0.1},
        ref_step(100, 0.5, warmup=5, init=1e-2),
    ),
    (
        "step",
        {"decay_t": 100, "decay_rate": 0.5, "warmup_t": 5, "warmup_prefix": False},
        ref_step(100, 0.5, warmup=5, prefix=False),
    ),
    ("multistep", {"decay_t": [300, 600, 900], "decay_rate": 0.1}, ref_multistep([300, 600, 900], 0.1)),
    ("multistep", {"decay_t": [0, 1, 2, 500], "decay_rate": 0.5}, ref_multistep([0, 1, 2, 500], 0.5)),
    (
        "multistep",
        {"decay_t": [100, 200], "decay_rate": 0.5, "warmup_t": 10, "warmup_prefix": False},
        ref_multistep([100, 200], 0.5, warmup=10, prefix=False),
    ),
    (
        "multistep",
        {"decay_t": [100, 200], "decay_rate": 0.5, "warmup_t": 10},
        ref_multistep([100, 200], 0.5, warmup=10),
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "reference"), CASES)
def test_matches_the_formula_step_for_step(
    name: str, kwargs: dict[str, object], reference: Callable[[int], float]
) -> None:
    assert_formula(from_timm(name, **kwargs), reference)


@pytest.mark.parametrize(("name", "kwargs"), [case[:2] for case in CASES])
def test_spec_round_trip(name: str, kwargs: dict[str, object]) -> None:
    assert_round_trip(from_timm(name, **kwargs))


def test_specs_read_as_compositions() -> None:
    unprefixed = from_timm("cosine", t_initial=100, warmup_t=10)
    assert str(unprefixed) == "warmup(steps=10, start=0.0) >> skip(cosine(steps=100), steps=10)"
    assert str(from_timm("multistep", decay_t=[3, 6])) == "multistep(milestones=[2, 5], gamma=1.0)"
    # inert when noise is off, as in timm
    assert from_timm("step", decay_t=3, noise_pct=0.5, t_in_epochs=False) == from_timm("step", decay_t=3)


# --- bad input -----------------------------------------------------------------------------------

BAD = [
    ("cosin", {"t_initial": 10}, "did you mean 'cosine'"),
    ("plateau", {}, "plateau callback"),
    ("tanh", {}, "no lrlab family"),
    ("cosine", {}, "needs t_initial"),
    ("cosine", {"t_initial": 0}, "t_initial must be > 0"),
    ("cosine", {"t_initial": 10, "lr_min": 1e-5}, "needs lr"),
    (
        "cosine",
        {"t_initial": 10, "warmup_t": 3, "warmup_lr_init": 1e-5},
        "warmup_lr_init=1e-05 is an absolute LR",
    ),
    ("cosine", {"t_initial": 10, "lr_min": 1e-5, "lr": -1.0}, "lr must be a finite number > 0"),
    ("cosine", {"t_initial": 10, "noise_range_t": [2, 8]}, "noise_range_t must be None"),
    ("cosine", {"t_initial": 10, "cycle_mul": 0.5}, "cycle_mul must be >= 1"),
    ("cosine", {"t_initial": 10, "cycle_decay": 1.5}, "cycle_decay must be in (0, 1]"),
    ("cosine", {"t_initial": 10, "cycle_limit": 0}, "cycle_limit must be an integer >= 1"),
    ("cosine", {"t_initial": 10, "cycle_limit": 1.5}, "cycle_limit must be an integer"),
    ("cosine", {"t_initial": 10, "warmup_epochs": 3}, "unknown argument 'warmup_epochs'"),
    (
        "cosine",
        {"t_initial": 10, "warmup_t": 3, "warmup_prefix": "yes"},
        "warmup_prefix must be True or False",
    ),
    ("poly", {"t_initial": 10, "cycle_limit": 1000}, "cycle_limit must be <= 100"),
    ("poly", {"t_initial": 10, "power": -1}, "power must be > 0"),
    ("poly", {"t_initial": 10, "k_decay": 0.5}, "k_decay must be 1.0"),
    ("step", {"decay_t": 10, "decay_rate": 2.0}, "decay_rate must be in [0, 1]"),
    ("step", {}, "needs decay_t"),
    ("multistep", {"decay_t": [6, 3]}, "decay_t must be sorted"),
    ("multistep", {"decay_t": 3}, "decay_t must be a non-empty list"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD)
def test_bad_input_names_the_argument(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LrlabError) as error:
        from_timm(name, **kwargs)  # type: ignore[arg-type]
    assert message in str(error.value)
