"""from_hf: Hugging Face ``get_scheduler`` types, against PARITY.md and re-derived formulas."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from lrlab.errors import LrlabError
from lrlab.schedules import Schedule
from lrlab.schedules.dialects import from_hf
from tests.schedules.dialect_checks import assert_formula, assert_round_trip, assert_row

# --- PARITY.md reference values (base 1, T=10, W=3 unless stated) -----------------------------

TABLE = [  # B.11, and the rows of B.1, B.2, B.5, B.6 that give values
    ("cosine", {}, "0, .3333, .6667, 1, .9505, .8117, .6113, .3887, .1883, .0495, 0, .0495"),
    ("linear", {}, "0, .3333, .6667, 1, .8571, .7143, .5714, .4286, .2857, .1429, 0, 0"),
    (
        "cosine_with_restarts",
        {"num_cycles": 2},
        "0, .333, .667, 1, .8117, .3887, .0495, .9505, .6113, .1883, 0, 0",
    ),
    (
        "polynomial",
        {"power": 2, "lr_end": 0.1, "lr_init": 1.0},
        "0, .333, .667, 1, .7612, .5592, .3939, .2653, .1735, .1184, .1, .1",
    ),
    ("inverse_sqrt", {}, "0, .333, .667, 1, .8660, .7746, .7071, .6547, .6124, .5774, .5477, .5222"),
    (
        "cosine_with_min_lr",
        {"min_lr_rate": 0.1},
        "0, .333, .667, 1, .9554, .8306, .6501, .4499, .2694, .1446, .1, .1446",
    ),
    (
        "cosine_warmup_with_min_lr",
        {"min_lr_rate": 0.1},
        ".333, .667, 1, .9554, .8306, .6501, .4499, .2694, .1446, .1, .1446, .2694",
    ),
    ("constant_with_warmup", {}, "0, .333, .667, 1.0, 1, 1"),
    ("warmup_stable_decay", {"num_decay_steps": 3}, "0, .333, .667, 1, 1, 1, 1, 1, .75, .25, 0, 0"),
    (
        "warmup_stable_decay",
        {"num_decay_steps": 3, "decay_type": "linear", "min_lr_ratio": 0.1},
        ".1, .4, .7, 1, 1, 1, 1, 1, .7, .4, .1, .1",
    ),
]


@pytest.mark.parametrize(("kind", "kwargs", "row"), TABLE)
def test_parity_table(kind: str, kwargs: dict[str, object], row: str) -> None:
    assert_row(from_hf(kind, 3, 10, **kwargs), row)


def test_parity_notes() -> None:
    # B.1: min_lr_ratio is where the WSD warmup starts; B.5: sqrt(W / s) = .866 at s=4, W=3.
    assert from_hf("warmup_stable_decay", 3, 10, num_decay_steps=3, min_lr_ratio=0.25)(0) == 0.25
    assert_row(from_hf("inverse_sqrt", 3), ".866", start=4)
    # B.2: the cosine is not clamped after T; hard restarts are 0 from T on.
    assert_row(from_hf("cosine", 3, 10), ".0495", start=11)
    assert from_hf("cosine_with_restarts", 3, 10, num_cycles=2).values(5, start=10) == [0.0] * 5


# --- the formulas of transformers/optimization.py, re-derived -----------------------------------


def _warm(s: int, w: int) -> float:
    return s / max(1, w)


def _progress(s: int, w: int, t: int) -> float:
    return (s - w) / max(1, t - w)


def ref_linear(w: int, t: int) -> Callable[[int], float]:
    return lambda s: _warm(s, w) if s < w else max(0.0, (t - s) / max(1, t - w))


def ref_cosine(w: int, t: int, cycles: float = 0.5, rate: float = 0.0) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < w:
            return _warm(s, w)
        factor = 0.5 * (1 + math.cos(math.pi * cycles * 2 * _progress(s, w, t)))
        return max(0.0, factor * (1 - rate) + rate)

    return f


def ref_restarts(w: int, t: int, cycles: float = 1) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < w:
            return _warm(s, w)
        p = _progress(s, w, t)
        return 0.0 if p >= 1 else 0.5 * (1 + math.cos(math.pi * ((cycles * p) % 1.0)))

    return f


def ref_polynomial(w: int, t: int, lr_init: float, lr_end: float, power: float) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < w:
            return _warm(s, w)
        if s > t:
            return lr_end / lr_init
        return ((lr_init - lr_end) * (1 - (s - w) / (t - w)) ** power + lr_end) / lr_init

    return f


def ref_inverse_sqrt(w: int, timescale: float | None = None) -> Callable[[int], float]:
    tau = timescale if timescale is not None else (w or 10_000)
    return lambda s: _warm(s, w) if s < w else 1 / math.sqrt((s + tau - w) / tau)


def ref_cosine_warmup_min(
    w: int, t: int, rate: float, cycles: float = 0.5, warmup_rate: float | None = None
) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < w and warmup_rate is None:
            return (s + 1) / max(1, w)
        if s < w:
            return warmup_rate + (1 - warmup_rate) * s / max(1, w - 1)
        p = (s - w + 1) / max(1, t - w)
        factor = 0.5 * (1 + math.cos(math.pi * cycles * 2 * p))
        return max(0.0, factor * (1 - rate) + rate)

    return f


_SHAPE = {
    "linear": lambda p: p,
    "cosine": lambda p: 0.5 * (1 - math.cos(math.pi * p)),
    "1-sqrt": lambda p: 1 - math.sqrt(1 - p),
}
_DECAY = {"linear": lambda p: 1 - p, "1-sqrt": lambda p: 1 - math.sqrt(p)}


def ref_wsd(
    w: int, stable: int, decay: int, *, up: str, down: str, ratio: float, cycles: float = 0.5
) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < w:
            return max(0.0, _SHAPE[up](s / max(1, w)) * (1 - ratio) + ratio)
        if s < w + stable:
            return 1.0
        if s < w + stable + decay:
            p = (s - w - stable) / max(1, decay)
            factor = 0.5 * (1 + math.cos(math.pi * cycles * 2 * p)) if down == "cosine" else _DECAY[down](p)
            return max(0.0, factor * (1 - ratio) + ratio)
        return ratio

    return f


SPANS = [(0, 1000), (3, 10), (100, 1000), (1, 50), (2, 2), (10, 5), (0, 1), (250, 1300), (7, 8)]

CASES: list[tuple[str, int, int, dict[str, object], Callable[[int], float]]] = [
    *[("linear", w, t, {}, ref_linear(w, t)) for w, t in SPANS],
    *[("cosine", w, t, {}, ref_cosine(w, t)) for w, t in SPANS],
    ("cosine", 50, 1000, {"num_cycles": 2.5}, ref_cosine(50, 1000, 2.5)),
    ("cosine", 0, 300, {"num_cycles": 0.3}, ref_cosine(0, 300, 0.3)),
    ("cosine", 10, 100, {"num_cycles": 0}, ref_cosine(10, 100, 0)),
    *[("cosine_with_restarts", w, t, {"num_cycles": 3}, ref_restarts(w, t, 3)) for w, t in SPANS],
    ("cosine_with_restarts", 0, 1000, {}, ref_restarts(0, 1000)),
    ("cosine_with_restarts", 20, 717, {"num_cycles": 7}, ref_restarts(20, 717, 7)),
    ("cosine_with_restarts", 5, 1005, {"num_cycles": 1.5}, ref_restarts(5, 1005, 1.5)),
    # Under one cycle: the cosine is cut off at T (0 from there on).
    *[
        ("cosine_with_restarts", w, t, {"num_cycles": c}, ref_restarts(w, t, c))
        for w, t in [(0, 1000), (3, 10), (100, 1000), (0, 1), (10, 5), (7, 8)]
        for c in (0.5, 0.25, 0.8)
    ],
    ("cosine_with_restarts", 20, 900, {"num_cycles": 0}, ref_restarts(20, 900, 0)),
    ("polynomial", 0, 1000, {"lr_init": 3e-4}, ref_polynomial(0, 1000, 3e-4, 1e-7, 1.0)),
    (
        "polynomial",
        30,
        900,
        {"lr_init": 0.1, "lr_end": 0.01, "power": 2.5},
        ref_polynomial(30, 900, 0.1, 0.01, 2.5),
    ),
    ("polynomial", 10, 5, {"lr_init": 1.0, "lr_end": 0.5}, ref_polynomial(10, 5, 1.0, 0.5, 1.0)),
    ("inverse_sqrt", 0, 0, {}, ref_inverse_sqrt(0)),
    ("inverse_sqrt", 40, 0, {}, ref_inverse_sqrt(40)),
    ("inverse_sqrt", 40, 0, {"timescale": 7}, ref_inverse_sqrt(40, 7)),
    *[("cosine_with_min_lr", w, t, {"min_lr_rate": 0.05}, ref_cosine(w, t, rate=0.05)) for w, t in SPANS],
    (
        "cosine_with_min_lr",
        5,
        800,
        {"min_lr": 1e-5, "lr_init": 1e-3, "num_cycles": 1},
        ref_cosine(5, 800, 1, 1e-5 / 1e-3),
    ),
    *[
        ("cosine_warmup_with_min_lr", w, t, {"min_lr_rate": 0.1}, ref_cosine_warmup_min(w, t, 0.1))
        for w, t in [(0, 1000), (1, 1000), (2, 600), (3, 10), (100, 1000), (10, 5)]
    ],
    *[
        (
            "cosine_warmup_with_min_lr",
            w,
            t,
            {"min_lr_rate": 0.2, "warmup_lr_rate": 0.05, "num_cycles": 0.75},
            ref_cosine_warmup_min(w, t, 0.2, 0.75, 0.05),
        )
        for w, t in [(0, 1000), (1, 1000), (2, 600), (64, 1000)]
    ],
    # A half period of 1 step or less, which the step ahead (p = 1 / (T - W) at W) skips past.
    *[
        (
            "cosine_warmup_with_min_lr",
            w,
            t,
            {"min_lr_rate": 0.1, "num_cycles": c, **rates},
            ref_cosine_warmup_min(w, t, 0.1, c, rates.get("warmup_lr_rate")),
        )
        for w, t, c in [(0, 1, 0.5), (0, 2, 1), (0, 3, 2.5), (1, 1, 0.5), (1, 2, 3), (1, 3, 1), (0, 1, 0)]
        for rates in ({}, {"warmup_lr_rate": 0.05})
    ],
    *[
        (
            "warmup_stable_decay",
            w,
            1000,
            {"num_decay_steps": d, "warmup_type": up, "decay_type": down, "min_lr_ratio": r},
            ref_wsd(w, 1000 - w - d, d, up=up, down=down, ratio=r),
        )
        for w, d, up, down, r in [
            (0, 200, "linear", "cosine", 0.0),
            (50, 300, "cosine", "1-sqrt", 0.1),
            (10, 990, "1-sqrt", "linear", 0.02),
            (100, 0, "linear", "linear", 0.3),
            (1, 1, "cosine", "cosine", 0.0),
        ]
    ],
    (
        "warmup_stable_decay",
        20,
        0,
        {"num_decay_steps": 100, "num_stable_steps": 500, "decay_type": "1-sqrt"},
        ref_wsd(20, 500, 100, up="linear", down="1-sqrt", ratio=0.0),
    ),
    # A cosine decay of num_cycles != 0.5 (it may rise again before the decay ends at ratio).
    *[
        (
            "warmup_stable_decay",
            w,
            1000,
            {"num_decay_steps": d, "min_lr_ratio": r, "num_cycles": c},
            ref_wsd(w, 1000 - w - d, d, up="linear", down="cosine", ratio=r, cycles=c),
        )
        for w, d, r, c in [
            (0, 200, 0.0, 1),
            (50, 300, 0.1, 2.5),
            (10, 990, 0.02, 0.25),
            (100, 900, 0.3, 0.75),
            (1, 1, 0.0, 1),
            (5, 3, 0.1, 3),
            (40, 500, 0.05, 0),
        ]
    ],
    ("constant_with_warmup", 25, 0, {}, lambda s: _warm(s, 25) if s < 25 else 1.0),
    ("constant", 25, 0, {}, lambda s: 1.0),
]


def _build(kind: str, w: int, t: int, kwargs: dict[str, object]) -> Schedule:
    return from_hf(kind, w, t if t else None, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "w", "t", "kwargs", "reference"), CASES)
def test_matches_the_formula_step_for_step(
    kind: str, w: int, t: int, kwargs: dict[str, object], reference: Callable[[int], float]
) -> None:
    assert_formula(_build(kind, w, t, kwargs), reference)


@pytest.mark.parametrize(("kind", "w", "t", "kwargs"), [case[:4] for case in CASES])
def test_spec_round_trip(kind: str, w: int, t: int, kwargs: dict[str, object]) -> None:
    assert_round_trip(_build(kind, w, t, kwargs))


def test_specs_read_as_compositions() -> None:
    assert str(from_hf("cosine", 3, 10)) == "warmup(steps=3, start=0.0) >> cosine(steps=7, periodic=true)"
    assert str(from_hf("linear", 0, 100)) == "linear(steps=100)"
    assert str(from_hf("constant", 5, 100)) == "constant()"  # get_scheduler ignores the warmup
    assert str(from_hf("cosine_with_restarts", 0, 100, num_cycles=0.5)) == (
        "take(cosine(steps=200), steps=100) >> constant(value=0.0)"
    )
    assert str(from_hf("warmup_stable_decay", 0, 100, num_decay_steps=20, num_cycles=1)) == (
        "constant(steps=80) >> take(cosine(steps=10, periodic=true), steps=20) >> constant(value=0.0)"
    )


# --- bad input -----------------------------------------------------------------------------------

BAD = [
    (("cosin", 3, 10), {}, "did you mean 'cosine'"),
    (("Linear", 3, 10), {}, "did you mean 'linear'"),
    (("reduce_lr_on_plateau",), {}, "plateau callback"),
    (("cosine", 3), {}, "needs num_training_steps"),
    (("cosine", -1, 10), {}, "num_warmup_steps must be an integer >= 0"),
    (("linear", 2.5, 10), {}, "num_warmup_steps must be an integer"),
    (("linear", True, 10), {}, "num_warmup_steps must be"),
    (("cosine", 3, 10), {"num_cycle": 1}, "did you mean 'num_cycles'"),
    (("cosine", 3, 10), {"num_cycles": -1}, "num_cycles must be >= 0"),
    (("constant_with_warmup", 3), {"num_cycles": 1}, "unknown argument 'num_cycles'"),
    (("cosine_with_restarts", 3, 10), {"num_cycles": -0.5}, "num_cycles must be >= 0"),
    (("polynomial", 3, 10), {}, "needs lr_init"),
    (("polynomial", 3, 10), {"lr_init": 1e-3, "lr_end": 1e-3}, "lr_end must be"),
    (("polynomial", 3, 10), {"lr_init": 1.0, "power": 0}, "power must be > 0"),
    (("polynomial", 10, 10), {"lr_init": 1.0}, "num_training_steps must be != num_warmup_steps"),
    (("inverse_sqrt", 3), {"timescale": 0}, "timescale must be > 0"),
    (("cosine_with_min_lr", 3, 10), {}, "needs min_lr_rate"),
    (("cosine_with_min_lr", 3, 10), {"min_lr": 1e-5, "min_lr_rate": 0.1}, "min_lr must be left out"),
    (("cosine_with_min_lr", 3, 10), {"min_lr": 1e-5}, "needs lr_init"),
    (("cosine_with_min_lr", 3, 10), {"min_lr_rate": 1.5}, "min_lr_rate must be"),
    (("cosine_warmup_with_min_lr", 3, 10), {"min_lr_rate": 0.1, "warmup_lr_rate": 2}, "warmup_lr_rate"),
    (("warmup_stable_decay", 3, 10), {}, "needs num_decay_steps"),
    (("warmup_stable_decay", 3), {"num_decay_steps": 3}, "needs num_training_steps"),
    (("warmup_stable_decay", 3, 5), {"num_decay_steps": 3}, "num_training_steps must be >= num_warmup"),
    (("warmup_stable_decay", 3, 10), {"num_decay_steps": 3, "warmup_type": "exp"}, "warmup_type must be"),
    (("warmup_stable_decay", 3, 10), {"num_decay_steps": 3, "num_cycles": -1}, "num_cycles must be >= 0"),
]


@pytest.mark.parametrize(("args", "kwargs", "message"), BAD)
def test_bad_input_names_the_argument(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(LrlabError, match=r"from_hf|unknown") as error:
        from_hf(*args, **kwargs)  # type: ignore[arg-type]
    assert message in str(error.value)
