"""``from_torch`` against torch itself: both schedulers driven side by side, every step compared.

Each case steps a torch optimizer under torch's scheduler (chainable recursion) and a second
optimizer under ``ScheduledLR(from_torch(...))`` (closed form) for >= 1,000 steps, with two param
groups of different base LRs, and compares the group LRs in float64 at every step.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch.optim import SGD, Optimizer
from torch.optim import lr_scheduler as pt

from lrlab.errors import LrlabError
from lrlab.schedules import Schedule, parse
from lrlab.schedules.dialects.pytorch import TORCH_SIGNATURES, from_torch
from lrlab.torch_bridge import ScheduledLR

BASES = (0.1, 0.0037)  # the two groups' base LRs; absolute torch LRs are given relative to BASES[0]
STEPS = 1200
RTOL = 1e-9

MakeTorch = Callable[[Optimizer, float], pt.LRScheduler]


@dataclass(frozen=True)
class Errors:
    """The largest differences seen: relative to the larger value, and relative to the base LR."""

    relative: float
    absolute: float  # |torch - lrlab| / base_lr


def _optimizer(lrs: Sequence[float]) -> SGD:
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0])


def drive(make: MakeTorch, schedule: Schedule, steps: int = STEPS, *, split: bool = False) -> Errors:
    """Step torch's scheduler and ``ScheduledLR(schedule)`` together, comparing every step.

    ``make(optimizer, scale)`` builds torch's scheduler; torch's absolute LRs must be multiplied
    by ``scale``, the group's base LR over ``BASES[0]``. With ``split``, each group gets its own
    torch optimizer (for torch arguments that are one absolute LR shared by all groups).
    """
    ours = _optimizer(BASES)
    scheduler = ScheduledLR(ours, schedule)
    if split:
        pairs = [(opt, make(opt, base / BASES[0])) for base in BASES for opt in [_optimizer([base])]]
    else:
        opt = _optimizer(BASES)
        pairs = [(opt, make(opt, 1.0))]
    relative = absolute = 0.0
    for _ in range(steps):
        expected = [group["lr"] for opt, _ in pairs for group in opt.param_groups]
        actual = [group["lr"] for group in ours.param_groups]
        for want, got, base in zip(expected, actual, BASES, strict=True):
            relative = max(relative, abs(want - got) / max(abs(want), abs(got), 1e-300))
            absolute = max(absolute, abs(want - got) / base)
        for opt, torch_scheduler in [*pairs, (ours, scheduler)]:
            opt.step()
            torch_scheduler.step()
    return Errors(relative, absolute)


def _cases(name: str, make: Callable[..., pt.LRScheduler], params: list[dict[str, object]]) -> list[object]:
    return [pytest.param(name, make, kwargs, id=f"{name}-{i}") for i, kwargs in enumerate(params)]


# Schedulers without absolute LRs: one torch optimizer holding both groups. Measured max relative
# error (torch 2.13, 1,200 steps): StepLR 2.6e-15, MultiStepLR 1.8e-16, ExponentialLR 2.7e-15,
# CosineAnnealingLR 4.3e-15 (2.3e-13 over many periods, T_max=100), CosineAnnealingWarmRestarts 0,
# PolynomialLR 8.2e-15, LinearLR 1.2e-14, ConstantLR 1.4e-16.
RELATIVE = [
    *_cases(
        "StepLR",
        pt.StepLR,
        [{"step_size": 7}, {"step_size": 100, "gamma": 0.5}, {"step_size": 1, "gamma": 0.99}],
    ),
    *_cases(
        "MultiStepLR",
        pt.MultiStepLR,
        [{"milestones": [10, 300, 301, 900]}, {"milestones": [0, 500, 500], "gamma": 0.5}],
    ),
    *_cases("ExponentialLR", pt.ExponentialLR, [{"gamma": 0.999}, {"gamma": 0.99}, {"gamma": 1.0}]),
    # Within the first period (T_max >= the steps driven), then across many periods.
    *_cases(
        "CosineAnnealingLR",
        pt.CosineAnnealingLR,
        [{"T_max": STEPS}, {"T_max": 2000}, {"T_max": 100}, {"T_max": 7}],
    ),
    *_cases(
        "CosineAnnealingWarmRestarts",
        pt.CosineAnnealingWarmRestarts,
        [{"T_0": 50}, {"T_0": 7, "T_mult": 2}, {"T_0": 1, "T_mult": 3}],
    ),
    *_cases(
        "PolynomialLR",
        pt.PolynomialLR,
        [{"total_iters": 1000}, {"total_iters": 1100, "power": 2.0}, {"total_iters": 800, "power": 0.5}],
    ),
    *_cases(
        "LinearLR",
        pt.LinearLR,
        [
            {},
            {"start_factor": 0.01, "total_iters": 1000},
            {"start_factor": 1.0, "end_factor": 0.05, "total_iters": 999},
        ],
    ),
    *_cases("ConstantLR", pt.ConstantLR, [{}, {"factor": 0.1, "total_iters": 600}]),
]


@pytest.mark.parametrize(("name", "make", "kwargs"), RELATIVE)
def test_relative_schedulers_match_torch(
    name: str, make: Callable[..., pt.LRScheduler], kwargs: dict[str, Any]
) -> None:
    errors = drive(lambda opt, _: make(opt, **kwargs), from_torch(name, **kwargs))
    assert errors.relative <= RTOL, errors


def _scaled(kwargs: Mapping[str, Any], scale: float, keys: Sequence[str]) -> dict[str, Any]:
    return {key: value * scale if key in keys else value for key, value in kwargs.items()}


LR = BASES[0]

# Absolute torch LRs (eta_min, base_lr/max_lr): one torch optimizer per group, its absolute LRs
# scaled with the group's base LR, as lrlab's multipliers scale. Measured max relative error:
# CosineAnnealingLR 2.3e-13, CosineAnnealingWarmRestarts 3.1e-16, OneCycleLR 4.3e-13 (cos) and
# 1.1e-11 (linear: its last step sits at max_lr / 2.5e5, where torch's `(end - start) * pct +
# start` cancels; 2.3e-16 relative to the base LR), CyclicLR 3.9e-16 (all three modes).
ABSOLUTE = [
    *_cases(
        "CosineAnnealingLR",
        pt.CosineAnnealingLR,
        [{"T_max": 1000, "eta_min": 0.001}, {"T_max": 100, "eta_min": 0.01}],
    ),
    *_cases(
        "CosineAnnealingWarmRestarts",
        pt.CosineAnnealingWarmRestarts,
        [{"T_0": 10, "T_mult": 2, "eta_min": 0.002}, {"T_0": 300, "eta_min": 0.05}],
    ),
    *_cases(
        "CyclicLR",
        pt.CyclicLR,
        [
            {"base_lr": 0.01, "max_lr": LR, "step_size_up": 100},
            {"base_lr": 0.01, "max_lr": LR, "step_size_up": 37, "step_size_down": 80, "mode": "triangular2"},
            {"base_lr": 0.001, "max_lr": LR, "step_size_up": 50, "mode": "exp_range", "gamma": 0.997},
            {"base_lr": 0.0, "max_lr": LR / 2, "step_size_up": 10.5, "mode": "triangular"},
        ],
    ),
]


@pytest.mark.parametrize(("name", "make", "kwargs"), ABSOLUTE)
def test_absolute_lrs_become_multipliers_of_lr(
    name: str, make: Callable[..., pt.LRScheduler], kwargs: dict[str, Any]
) -> None:
    absolute = ("eta_min", "base_lr", "max_lr")
    errors = drive(
        lambda opt, scale: make(opt, **_scaled(kwargs, scale, absolute)),
        from_torch(name, lr=LR, **kwargs),
        split=True,
    )
    assert errors.relative <= RTOL, errors


ONE_CYCLE = [
    {"total_steps": STEPS},
    {"total_steps": STEPS, "anneal_strategy": "linear"},
    {"total_steps": 1500, "three_phase": True, "pct_start": 0.25},
    {"epochs": 12, "steps_per_epoch": 100, "div_factor": 10.0, "final_div_factor": 100.0, "pct_start": 0.5},
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE)
@pytest.mark.parametrize("peak", [LR, LR / 2], ids=["lr=max_lr", "lr=2*max_lr"])
def test_one_cycle_matches_torch_over_its_total_steps(kwargs: dict[str, Any], peak: float) -> None:
    total = int(kwargs.get("total_steps", STEPS))
    errors = drive(
        lambda opt, scale: pt.OneCycleLR(opt, max_lr=peak * scale, **kwargs),
        from_torch("OneCycleLR", max_lr=peak, lr=LR, **kwargs),
        steps=total,  # torch raises past total_steps; lrlab holds the last value
        split=True,
    )
    assert errors.relative <= RTOL, errors


def test_cyclic_with_per_group_lists_in_one_optimizer() -> None:
    """torch's per-group base_lr/max_lr lists, proportional to the groups' LRs, are one curve."""
    errors = drive(
        lambda opt, _: pt.CyclicLR(opt, base_lr=[b / 20 for b in BASES], max_lr=list(BASES), step_size_up=60),
        from_torch("CyclicLR", base_lr=LR / 20, max_lr=LR, step_size_up=60),
    )
    assert errors.relative <= RTOL, errors


SEQUENCES = [
    (
        [("LinearLR", {"start_factor": 0.01, "total_iters": 100}), ("CosineAnnealingLR", {"T_max": 1100})],
        [100],
    ),
    (
        [
            ("LinearLR", {"start_factor": 0.01, "total_iters": 100}),
            ("CosineAnnealingLR", {"T_max": 1100, "eta_min": 0.001}),
        ],
        [100],
    ),
    # A milestone after LinearLR's end (held at end_factor), and one before it (cut short).
    ([("LinearLR", {"start_factor": 0.1, "total_iters": 50}), ("CosineAnnealingLR", {"T_max": 500})], [80]),
    ([("LinearLR", {"start_factor": 0.1, "total_iters": 50}), ("CosineAnnealingLR", {"T_max": 500})], [30]),
    (
        [
            ("ConstantLR", {"factor": 0.1, "total_iters": 50}),
            ("StepLR", {"step_size": 33, "gamma": 0.5}),
            ("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 2}),
            ("ExponentialLR", {"gamma": 0.99}),
        ],
        [40, 300, 450],
    ),
    (
        [
            ("MultiStepLR", {"milestones": [5, 50, 500]}),
            ("PolynomialLR", {"total_iters": 100, "power": 2.0}),
            ("LinearLR", {}),
        ],
        [400, 600],
    ),
    # Pieces that end between their own breakpoints: `take(piece, steps=gap)`.
    ([("ExponentialLR", {"gamma": 0.99}), ("LinearLR", {"start_factor": 0.5, "total_iters": 200})], [300]),
    # CosineAnnealingLR past its T_max (rising again), and cut short.
    (
        [("CosineAnnealingLR", {"T_max": 100, "eta_min": 0.001}), ("ExponentialLR", {"gamma": 0.995})],
        [250],
    ),
    ([("CosineAnnealingLR", {"T_max": 500}), ("StepLR", {"step_size": 50, "gamma": 0.7})], [137]),
    (
        [("PolynomialLR", {"total_iters": 100, "power": 2.0}), ("CosineAnnealingLR", {"T_max": 1000})],
        [60],
    ),
    # CosineAnnealingWarmRestarts ending mid-cycle (its restarts are at 10, 30, 70, … and 7, 14, …).
    (
        [
            ("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 2, "eta_min": 0.002}),
            ("PolynomialLR", {"total_iters": 500}),
        ],
        [55],
    ),
    ([("CosineAnnealingWarmRestarts", {"T_0": 7}), ("CosineAnnealingLR", {"T_max": 300})], [33]),
    # ConstantLR and StepLR cut mid-way, MultiStepLR between its milestones.
    (
        [
            ("ConstantLR", {"factor": 0.2, "total_iters": 80}),
            ("StepLR", {"step_size": 30, "gamma": 0.5}),
            ("MultiStepLR", {"milestones": [10, 400], "gamma": 0.3}),
            ("CosineAnnealingLR", {"T_max": 90}),
        ],
        [40, 145, 700],
    ),
    (
        [
            ("LinearLR", {"start_factor": 0.1, "total_iters": 100}),
            ("ExponentialLR", {"gamma": 0.98}),
            ("CosineAnnealingLR", {"T_max": 60, "eta_min": 0.005}),
            ("CosineAnnealingWarmRestarts", {"T_0": 25, "T_mult": 3}),
            ("PolynomialLR", {"total_iters": 300, "power": 0.5}),
            ("ConstantLR", {}),
            ("ExponentialLR", {"gamma": 0.999}),
        ],
        [70, 170, 400, 480, 600, 602],
    ),
]


@pytest.mark.parametrize(("schedulers", "milestones"), SEQUENCES)
def test_sequential_matches_torch(
    schedulers: list[tuple[str, dict[str, float]]], milestones: list[int]
) -> None:
    """Measured max relative error 1.8e-13 (CosineAnnealingLR recursing 500 steps, T_max=90), 6.6e-15
    otherwise: each piece restarts from its closed form at 0 and runs until the next milestone."""

    def make(opt: Optimizer, scale: float) -> pt.LRScheduler:
        parts = [getattr(pt, name)(opt, **_scaled(kw, scale, ["eta_min"])) for name, kw in schedulers]
        return pt.SequentialLR(opt, parts, milestones=milestones)

    schedule = from_torch("SequentialLR", schedulers=schedulers, milestones=milestones, lr=LR)
    assert drive(make, schedule, split=True).relative <= RTOL
    assert parse(str(schedule)) == schedule


def test_sequential_reference_values() -> None:
    """PARITY B.11: SequentialLR([LinearLR(.01, 3), CosineAnnealingLR(7)], [3]), base 1."""
    schedule = from_torch(
        "sequentiallr",
        schedulers=[
            ("LinearLR", {"start_factor": 0.01, "total_iters": 3}),
            ("CosineAnnealingLR", {"T_max": 7}),
        ],
        milestones=[3],
    )
    want = [0.01, 0.34, 0.67, 1, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 0, 0.0495]
    assert [round(v, 4) for v in schedule.values(12)] == pytest.approx(want, abs=1e-12)
    assert parse(str(schedule)) == schedule


def test_sequential_cuts_a_piece_with_take() -> None:
    """A piece that does not end at its milestone runs as torch runs it, until the milestone."""
    schedule = from_torch(
        "SequentialLR",
        schedulers=[("ExponentialLR", {"gamma": 0.5}), ("LinearLR", {"total_iters": 2})],
        milestones=[3],
    )
    linear = "linear(steps=2, start=0.3333333333333333, end=1.0)"
    assert str(schedule) == f"take(exponential(gamma=0.5), steps=3) >> {linear}"
    assert schedule.values(6) == pytest.approx([1, 0.5, 0.25, 1 / 3, 2 / 3, 1], rel=1e-15)


def test_one_cycle_reference_values_and_end() -> None:
    """PARITY B.7 (T=10); after its last step torch raises, lrlab holds the final value."""
    schedule = from_torch("OneCycleLR", max_lr=1.0, total_steps=10)
    want = [0.04, 0.52, 1.0, 0.950, 0.812, 0.611, 0.389, 0.188, 0.050, 4e-6]
    assert [round(v, 3) for v in schedule.values(9)] == want[:9]
    assert schedule(9) == pytest.approx(4e-6) and schedule(10**6) == schedule(9)
    three = from_torch("OneCycleLR", max_lr=1.0, total_steps=10, three_phase=True)
    assert [round(v, 3) for v in three.values(5)] == [0.04, 0.52, 1.0, 0.52, 0.04]


# --- names, arguments and errors ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TORCH_SIGNATURES))
def test_signatures_mirror_torch(name: str) -> None:
    """Every argument and default is torch's own (``optimizer`` and ``last_epoch`` aside)."""
    params = inspect.signature(getattr(pt, name)).parameters
    theirs = {
        key: ("required" if p.default is inspect.Parameter.empty else p.default)
        for key, p in params.items()
        if key not in ("optimizer", "last_epoch")
    }
    ours = {key: (value if isinstance(value, (int, float, str, bool, type(None))) else "required")
            for key, value in TORCH_SIGNATURES[name].items()}  # fmt: skip
    assert ours == theirs


def test_names_are_case_insensitive() -> None:
    assert from_torch("steplr", step_size=3) == from_torch("StepLR", step_size=3)
    assert str(from_torch("COSINEANNEALINGLR", T_max=10)) == "cosine(steps=10, periodic=true)"


def test_unknown_name_suggests_the_close_one() -> None:
    with pytest.raises(LrlabError, match="did you mean 'CosineAnnealingLR'"):
        from_torch("CosineAnealingLR", T_max=10)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("StepLR", {}, "needs step_size="),
        ("StepLR", {"step_size": 0}, "step_size must be an integer >= 1, got step_size=0"),
        ("StepLR", {"step_size": 3, "gama": 0.5}, "unknown argument 'gama'; did you mean 'gamma'"),
        ("StepLR", {"step_size": 3, "gamma": 1.5}, r"gamma must be in \[0, 1\]"),
        ("ExponentialLR", {"gamma": 1.01}, r"gamma must be in \(0, 1\]"),
        ("MultiStepLR", {"milestones": [3, -1]}, "milestones must be integers >= 0"),
        ("CosineAnnealingLR", {"T_max": 2.5}, "T_max must be an integer"),
        ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}, "needs lr=.*eta_min=0.01"),
        ("CosineAnnealingLR", {"T_max": 10, "last_epoch": 4}, "last_epoch is not part of the schedule"),
        ("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 1.5}, "T_mult must be an integer"),
        ("LinearLR", {"start_factor": 0.0}, r"start_factor must be in \(0, 1\]"),
        ("LinearLR", {"end_factor": 2.0}, r"end_factor must be in \[0, 1\]"),
        ("ConstantLR", {"factor": 1.5}, r"factor must be in \[0, 1\]"),
        ("PolynomialLR", {"power": 0.0}, "power must be in"),
        ("OneCycleLR", {"max_lr": 0.1}, "needs total_steps="),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 3}, "pct_start must be"),
        (
            "OneCycleLR",
            {"max_lr": 0.1, "total_steps": 100, "pct_start": 0.6, "three_phase": True},
            "pct_start",
        ),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 100, "anneal_strategy": "cosine"}, "anneal_strategy"),
        ("OneCycleLR", {"max_lr": [0.1, 0.2], "total_steps": 100}, "max_lr must be one number"),
        (
            "CyclicLR",
            {"base_lr": 0.1, "max_lr": 1.0, "scale_fn": abs},
            "scale_fn must be None.*Python callable",
        ),
        ("CyclicLR", {"base_lr": 0.1, "max_lr": 1.0, "mode": "exp_range", "gamma": 1.1}, "gamma must be"),
        ("CyclicLR", {"base_lr": 0.1, "max_lr": 1.0, "mode": "sine"}, "mode must be one of"),
    ],
)
def test_bad_arguments_name_torchs_argument(name: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(LrlabError, match=message):
        from_torch(name, **kwargs)


@pytest.mark.parametrize(
    ("schedulers", "milestones", "message"),
    [
        ([("LinearLR", {}), ("StepLR", {"step_size": 2})], [3, 4], "milestones must be a list of 1"),
        ([("LinearLR", {}), ("StepLR", {"step_size": 2})], [0], "strictly increasing integers >= 1"),
        ([("OneCycleLR", {"max_lr": 1, "total_steps": 9}), ("LinearLR", {})], [3], "without OneCycleLR"),
        ([("LinearLR", {}), "CosineAnnealingLR"], [3], "pairs like"),
        ([("LinearLR", {}), ("CosineAnnealingLR", {"T_max": 5, "lr": 0.1})], [3], "lr= to SequentialLR"),
    ],
)
def test_sequential_refuses_what_it_cannot_express(
    schedulers: list[object], milestones: list[int], message: str
) -> None:
    with pytest.raises(LrlabError, match=message):
        from_torch("SequentialLR", schedulers=schedulers, milestones=milestones)


def test_momentum_arguments_do_not_change_the_lr_schedule() -> None:
    plain = from_torch("OneCycleLR", max_lr=0.1, total_steps=100)
    assert plain == from_torch("OneCycleLR", max_lr=0.1, total_steps=100, cycle_momentum=False,
                               base_momentum=0.5, max_momentum=0.99)  # fmt: skip


def test_lr_is_validated() -> None:
    with pytest.raises(LrlabError, match="lr must be a finite number > 0"):
        from_torch("CosineAnnealingLR", T_max=10, eta_min=0.01, lr=0.0)
    assert math.isclose(from_torch("CosineAnnealingLR", T_max=10, eta_min=0.01, lr=0.1)(10), 0.1)
