"""``torch.optim.lr_scheduler`` classes as lrlab schedules, value for value (no torch import)."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

from lrlab.errors import LrlabError, unknown
from lrlab.schedules.base import Schedule
from lrlab.schedules.compose import take
from lrlab.schedules.dialects._common import REQUIRED, Args, Required, affine, chain
from lrlab.schedules.families import (
    constant,
    cosine,
    cosine_restarts,
    cyclic,
    exponential,
    linear,
    multistep,
    one_cycle,
    polynomial,
    step,
)

#: Each class's arguments and torch's defaults (``optimizer`` and ``last_epoch`` left out).
# fmt: off
TORCH_SIGNATURES: dict[str, dict[str, object]] = {
    "StepLR": {"step_size": REQUIRED, "gamma": 0.1},
    "MultiStepLR": {"milestones": REQUIRED, "gamma": 0.1},
    "ExponentialLR": {"gamma": REQUIRED},
    "CosineAnnealingLR": {"T_max": REQUIRED, "eta_min": 0.0},
    "CosineAnnealingWarmRestarts": {"T_0": REQUIRED, "T_mult": 1, "eta_min": 0.0},
    "OneCycleLR": {
        "max_lr": REQUIRED, "total_steps": None, "epochs": None, "steps_per_epoch": None,
        "pct_start": 0.3, "anneal_strategy": "cos", "cycle_momentum": True, "base_momentum": 0.85,
        "max_momentum": 0.95, "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False,
    },
    "CyclicLR": {
        "base_lr": REQUIRED, "max_lr": REQUIRED, "step_size_up": 2000, "step_size_down": None,
        "mode": "triangular", "gamma": 1.0, "scale_fn": None, "scale_mode": "cycle",
        "cycle_momentum": True, "base_momentum": 0.8, "max_momentum": 0.9,
    },
    "PolynomialLR": {"total_iters": 5, "power": 1.0},
    "LinearLR": {"start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5},
    "ConstantLR": {"factor": 1.0 / 3, "total_iters": 5},
    "SequentialLR": {"schedulers": REQUIRED, "milestones": REQUIRED},
}
# fmt: on

# These set the optimizer's LRs themselves (or nest), so torch's SequentialLR mixes them oddly.
_NOT_IN_SEQUENCE = ("OneCycleLR", "CyclicLR", "SequentialLR")


def from_torch(name: str, /, *, lr: float | None = None, **kwargs: object) -> Schedule:
    """torch's ``name(optimizer, **kwargs)`` as multipliers of ``lr``, the optimizer's base LR.

    Names are case-insensitive; arguments and defaults are torch's. Step ``s`` is the LR after
    ``s`` calls of ``scheduler.step()`` (0 right after construction). torch's absolute LRs
    (``eta_min``; ``base_lr``/``max_lr`` of ``CyclicLR``; ``max_lr`` of ``OneCycleLR``) become
    fractions of ``lr``, which is required when they are not 0; ``OneCycleLR`` and ``CyclicLR``
    default ``lr`` to ``max_lr`` (so build the optimizer with ``lr=max_lr``: torch's set the
    groups' LRs themselves). Other param groups scale them with their own base LR.

    * ``CosineAnnealingLR``: periodic after ``T_max`` (it rises again), as torch's is.
    * ``CosineAnnealingWarmRestarts``: restarts at ``T_cur = T_i``, so ``eta_min`` is never hit.
    * ``OneCycleLR``: the peak at ``pct_start * total_steps - 1``, ``max_lr / (div_factor *
      final_div_factor)`` at ``total_steps - 1``, then held (torch raises past
      ``total_steps``). LR only: momentum cycling is out of scope, and the momentum arguments
      (like ``CyclicLR``'s) are accepted for torch's signature but change nothing.
    * ``CyclicLR``: the three modes; a custom ``scale_fn`` is a Python callable, not a schedule.
    * ``SequentialLR(schedulers=[(name, kwargs), …], milestones=[…])``: piece ``i`` starts at
      its milestone from its own step 0 and runs, as torch runs it, until the next milestone
      (cut short, held or past its period: ``take(piece, steps=gap)``). ``OneCycleLR``,
      ``CyclicLR`` and ``SequentialLR`` cannot be pieces: they set the groups' LRs themselves.

    >>> str(from_torch("SequentialLR", schedulers=[("LinearLR", {"total_iters": 2}),
    ...     ("CosineAnnealingLR", {"T_max": 8})], milestones=[2]))
    'linear(steps=2, start=0.3333333333333333, end=1.0) >> cosine(steps=8, periodic=true)'
    """
    canonical = _canonical(name)
    for key, fix in _ELSEWHERE.items():
        if key in kwargs:
            raise LrlabError(f"from_torch({canonical!r}): {key} is not part of the schedule; {fix}")
    return _BUILDERS[canonical](_TorchArgs(canonical, kwargs, lr))


_ELSEWHERE = {
    "optimizer": "give the optimizer to ScheduledLR(optimizer, schedule).",
    "last_epoch": "resume with ScheduledLR's load_state_dict (or its last_epoch).",
}


def _canonical(name: object) -> str:
    canonical = {known.lower(): known for known in TORCH_SIGNATURES}.get(str(name).lower())
    if canonical is None:
        raise unknown("torch scheduler", str(name), TORCH_SIGNATURES)
    return canonical


class _TorchArgs(Args):
    """One torch scheduler's arguments, with torch's defaults and the caller's base LR."""

    def __init__(self, scheduler: str, given: dict[str, object], lr: float | None) -> None:
        super().__init__(f"from_torch({scheduler!r})", given, TORCH_SIGNATURES[scheduler])
        self.defaults = TORCH_SIGNATURES[scheduler]
        self.lr = None if lr is None else self.base_lr(lr)

    def value(self, param: str) -> object:
        """The argument as given, or torch's default."""
        return self.given.get(param, self.defaults[param])

    def integer(self, param: str, minimum: int) -> int:
        """An integer >= ``minimum``."""
        value = self.number(param, self._default(param), integer=True)
        self.require(value >= minimum, param, f"an integer >= {minimum}")
        return int(value)

    def real(self, param: str, low: float, high: float = math.inf, *, open_low: bool = False) -> float:
        """A number in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
        value = self.number(param, self._default(param))
        inside = (low < value if open_low else low <= value) and value <= high
        self.require(inside, param, f"in {'(' if open_low else '['}{low:g}, {high:g}]")
        return value

    def relative(self, param: str) -> float:
        """torch's absolute LR ``param`` as a fraction of the base LR ``lr``."""
        value = self.real(param, 0)
        if value == 0:
            return 0.0
        if self.lr is None:
            fix = f"It turns {param}={value!r}, an absolute LR, into a fraction of the base LR."
            raise self.missing("lr", fix)
        return value / self.lr

    def _default(self, param: str) -> float | Required:
        default = self.defaults[param]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            return default
        return REQUIRED


def _step_lr(args: _TorchArgs) -> Schedule:
    return step(every=args.integer("step_size", 1), gamma=args.real("gamma", 0, 1))


def _multistep_lr(args: _TorchArgs) -> Schedule:
    milestones = args.numbers("milestones", integer=True)
    args.require(min(milestones) >= 0, "milestones", "integers >= 0")
    return multistep(milestones=tuple(sorted(milestones)), gamma=args.real("gamma", 0, 1))


def _exponential_lr(args: _TorchArgs) -> Schedule:
    return exponential(gamma=args.real("gamma", 0, 1, open_low=True))


def _cosine_annealing_lr(args: _TorchArgs) -> Schedule:
    steps = args.integer("T_max", 1)
    return cosine(steps=steps, end=args.relative("eta_min"), periodic=True)


def _warm_restarts(args: _TorchArgs) -> Schedule:
    steps, mult = args.integer("T_0", 1), args.integer("T_mult", 1)
    return cosine_restarts(steps=steps, mult=float(mult), end=args.relative("eta_min"))


def _total_steps(args: _TorchArgs) -> int:
    if args.given.get("total_steps") is not None:
        return args.integer("total_steps", 1)
    if args.given.get("epochs") is None or args.given.get("steps_per_epoch") is None:
        raise args.missing("total_steps", "Or give both epochs=… and steps_per_epoch=….")
    return args.integer("epochs", 1) * args.integer("steps_per_epoch", 1)


def _one_for_all(args: _TorchArgs, param: str, *, open_low: bool = False) -> float:
    """An absolute LR that torch also takes per param group: here one number for all groups."""
    if isinstance(args.given.get(param), (list, tuple)):
        raise args.fail(
            param,
            "one number",
            "An lrlab schedule is one curve of multipliers: give "
            "the value for the group whose base LR is lr=…; other groups scale with theirs.",
        )
    return args.real(param, 0, open_low=open_low)


def _one_cycle_lr(args: _TorchArgs) -> Schedule:
    peak = _one_for_all(args, "max_lr", open_low=True)
    total = _total_steps(args)
    three_phase = args.flag("three_phase", False)
    upper = 0.5 if three_phase else 1.0
    pct = args.real("pct_start", 0, upper, open_low=True)
    limits = f"in (0, {upper:g}) with pct_start * total_steps > 1 (total_steps={total})"
    args.require(pct < upper and pct * total > 1, "pct_start", limits)
    initial = peak / args.real("div_factor", 0, open_low=True)
    final = initial / args.real("final_div_factor", 0, open_low=True)
    strategy = args.choice("anneal_strategy", "cos", ("cos", "linear"))
    shape = "cosine" if strategy == "cos" else "linear"
    cycle = one_cycle(
        steps=total, peak_at=pct, start=initial / peak, end=final / peak, shape=shape, three_phase=three_phase
    )
    return affine(cycle, factor=1.0 if args.lr is None else peak / args.lr)


def _cyclic_lr(args: _TorchArgs) -> Schedule:
    if args.given.get("scale_fn") is not None:
        raise args.fail(
            "scale_fn",
            "None",
            "A custom scale_fn is a Python callable, not a "
            "schedule: use mode='triangular', 'triangular2' or 'exp_range'.",
        )
    low, high = _one_for_all(args, "base_lr"), _one_for_all(args, "max_lr", open_low=True)
    base = high if args.lr is None else args.lr
    up = args.real("step_size_up", 0, open_low=True)
    down = None
    if args.given.get("step_size_down") is not None:
        down = args.real("step_size_down", 0, open_low=True)
    mode = args.choice("mode", "triangular", ("triangular", "triangular2", "exp_range"))
    args.choice("scale_mode", "cycle", ("cycle", "iterations"))  # torch ignores it without scale_fn
    gamma = args.real("gamma", 0, 1, open_low=True) if mode == "exp_range" else 1.0
    return cyclic(steps_up=up, steps_down=down, start=low / base, peak=high / base, mode=mode, gamma=gamma)


def _polynomial_lr(args: _TorchArgs) -> Schedule:
    power = args.real("power", 0, open_low=True)
    return polynomial(steps=args.integer("total_iters", 1), power=power)


def _linear_lr(args: _TorchArgs) -> Schedule:
    start = args.real("start_factor", 0, 1, open_low=True)
    end = args.real("end_factor", 0, 1)
    return linear(steps=args.integer("total_iters", 1), start=start, end=end)


def _constant_lr(args: _TorchArgs) -> Schedule:
    factor = args.real("factor", 0, 1)
    return constant(value=factor, steps=args.integer("total_iters", 1)) >> constant()


def _sequential_lr(args: _TorchArgs) -> Schedule:
    entries = args.value("schedulers")
    if isinstance(entries, (str, bytes)) or not isinstance(entries, (list, tuple)) or not entries:
        raise args.fail(
            "schedulers",
            "a non-empty list of (name, kwargs) pairs",
            "For example [('LinearLR', {'total_iters': 5}), ('CosineAnnealingLR', {'T_max': 95})].",
        )
    milestones = args.numbers("milestones", integer=True) if len(entries) > 1 else []
    if len(milestones) != len(entries) - 1:
        raise args.fail("milestones", f"a list of {len(entries) - 1} (one fewer than schedulers)")
    bounds = [0, *map(int, milestones)]
    increasing = all(a < b for a, b in pairwise(bounds))
    args.require(increasing, "milestones", "strictly increasing integers >= 1")
    *pieces, last = [_piece(args, entry) for entry in entries]
    # torch runs each piece from its own step 0 until the next milestone, whatever its length.
    cut = [
        piece if piece.duration == b - a else take(piece, steps=b - a)
        for piece, (a, b) in zip(pieces, pairwise(bounds), strict=True)
    ]
    return chain(*cut, last)


def _piece(args: _TorchArgs, entry: object) -> Schedule:
    name, kwargs = entry if isinstance(entry, (list, tuple)) and len(entry) == 2 else (None, None)
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise args.fail("schedulers", "a list of (name, kwargs) pairs like ('LinearLR', {})")
    canonical = _canonical(name)
    if "lr" in kwargs:
        raise args.fail("schedulers", "a list of torch arguments", "Give lr= to SequentialLR itself.")
    if canonical in _NOT_IN_SEQUENCE:
        raise args.fail(
            "schedulers",
            "a list without " + ", ".join(_NOT_IN_SEQUENCE),
            f"{canonical} sets the optimizer's LRs itself.",
        )
    return from_torch(canonical, lr=args.lr, **kwargs)


_BUILDERS: dict[str, Callable[[_TorchArgs], Schedule]] = {
    "StepLR": _step_lr,
    "MultiStepLR": _multistep_lr,
    "ExponentialLR": _exponential_lr,
    "CosineAnnealingLR": _cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": _warm_restarts,
    "OneCycleLR": _one_cycle_lr,
    "CyclicLR": _cyclic_lr,
    "PolynomialLR": _polynomial_lr,
    "LinearLR": _linear_lr,
    "ConstantLR": _constant_lr,
    "SequentialLR": _sequential_lr,
}
