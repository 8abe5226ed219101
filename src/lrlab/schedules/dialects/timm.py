"""timm's ``timm.scheduler`` classes as lrlab schedules, value for value."""

from __future__ import annotations

from collections.abc import Callable

from lrlab.errors import LrlabError, unknown
from lrlab.schedules.base import Schedule
from lrlab.schedules.compose import join
from lrlab.schedules.dialects._common import Args, affine, ramp, shift
from lrlab.schedules.families import (
    constant,
    cosine,
    cosine_restarts,
    multistep,
    polynomial,
    step,
)

_MAX_POLY_CYCLES = 100  # each poly cycle is one piece of the spec

_Builder = Callable[[Args, float | None], Schedule]

_REFUSED = {
    "plateau": "PlateauLRScheduler lowers the LR when a metric stops improving, so it is not a "
    "function of the step; use lrlab's plateau callback in training instead.",
    "tanh": "TanhLRScheduler's tanh-shaped decay has no lrlab family.",
    "wsd": "WSDLRScheduler is not mirrored here; with stable_fn='constant' and decay_fn 'linear', "
    "'1-sqrt' or 'cosine' write warmup(steps=warmup_t, start=warmup_lr_init/lr) >> "
    "wsd(steps=t_initial, decay_steps=decay_t, shape=decay_fn, end=lr_min/lr).",
}


def from_timm(name: str, /, *, lr: float | None = None, **kwargs: object) -> Schedule:
    """timm's scheduler ``name`` as multipliers of the param group's base LR ``lr``.

    ``kwargs`` are the scheduler class's own arguments, with the **class** defaults (not
    ``create_scheduler_v2``'s: e.g. ``cycle_decay=1.0``, ``warmup_lr_init=0``, poly
    ``power=0.5``). ``lr_min`` and ``warmup_lr_init`` are absolute LRs, so ``lr`` is required
    when they are not 0 (``warmup_lr_init`` only counts with ``warmup_t``). The step is timm's
    ``t``: the update count with ``step_update`` (``t_in_epochs=False``), the epoch with
    ``t_in_epochs=True``. Names (exact, as in ``create_scheduler_v2``'s ``sched``):

    * ``cosine`` (``CosineLRScheduler(t_initial, lr_min=0, cycle_mul=1, cycle_decay=1,
      cycle_limit=1)``): restarts at the peak × ``cycle_decay ** i`` and never touches
      ``lr_min`` inside a cycle; ``lr_min`` from the end of the last cycle on.
    * ``poly`` (``PolyLRScheduler``, the same and ``power=0.5``).
    * ``step`` (``StepLRScheduler(decay_t, decay_rate=1)``): decays at ``t = decay_t``.
    * ``multistep`` (``MultiStepLRScheduler(decay_t=[…], decay_rate=1)``): milestone ``m``
      applies at ``t = m - 1``, one step before torch's.

    Warmup (``warmup_t``, ``warmup_lr_init``): a line from ``warmup_lr_init`` at 0 to the peak
    at ``warmup_t``. ``warmup_prefix`` (class default ``False`` for cosine/poly, ``True`` for
    step/multistep) shifts the main schedule by ``warmup_t``; without it the main schedule runs
    on the absolute ``t``, so a cosine never reaches its peak. ``noise_range_t`` and
    ``k_decay != 1`` are refused (not expressible).

    >>> from_timm("multistep", decay_t=[2], decay_rate=0.5).values(3)
    [1.0, 0.5, 0.5]
    """
    build = _SCHEDULERS.get(name)
    if build is None:
        if name in _REFUSED:
            raise LrlabError(f"from_timm({name!r}): {_REFUSED[name]}")
        raise unknown("timm scheduler", name, [*_SCHEDULERS, *_REFUSED])
    args = Args(f"from_timm({name!r})", kwargs, (*_ARGS[name], *_COMMON))
    args.require(
        args.given.get("noise_range_t") is None,
        "noise_range_t",
        "None",
        "timm's LR noise is pseudo-random per step, which no lrlab schedule expresses.",
    )
    if lr is not None:
        args.base_lr(lr)
    args.flag("t_in_epochs", True)
    args.flag("initialize", True)
    return _with_warmup(args, build(args, lr), lr, name in ("cosine", "poly"))


def _with_warmup(args: Args, main: Schedule, lr: float | None, cyclic: bool) -> Schedule:
    steps = args.number("warmup_t", 0)
    args.require(steps >= 0, "warmup_t", ">= 0")
    prefix = args.flag("warmup_prefix", not cyclic)
    if steps == 0:
        return main
    head = ramp(steps, _fraction(args, "warmup_lr_init", lr))
    return head >> (main if prefix else shift(main, steps))


def _fraction(args: Args, param: str, lr: float | None) -> float:
    """An absolute LR argument as a multiplier of ``lr``."""
    value = args.number(param, 0.0)
    args.require(value >= 0, param, ">= 0")
    if value == 0:
        return 0.0
    if lr is None:
        raise args.missing("lr", f"{param}={value!r} is an absolute LR: pass the param group's base LR.")
    return value / args.base_lr(lr)


def _cycles(args: Args) -> tuple[float, float, int]:
    """``cycle_mul``, ``cycle_decay`` and ``cycle_limit``, after refusing ``k_decay``."""
    args.require(
        args.number("k_decay", 1.0) == 1,
        "k_decay",
        "1.0",
        "k-decay (cos(pi t^k / T^k)) is not expressible in lrlab.",
    )
    mul, decay = args.number("cycle_mul", 1.0), args.number("cycle_decay", 1.0)
    limit = int(args.number("cycle_limit", 1, integer=True))
    args.require(mul >= 1, "cycle_mul", ">= 1", "Shrinking cycles are not expressible in lrlab.")
    args.require(0 < decay <= 1, "cycle_decay", "in (0, 1]", "Growing peaks are not expressible in lrlab.")
    args.require(limit >= 1, "cycle_limit", "an integer >= 1")
    return mul, decay, limit


def _length(args: Args, param: str) -> float:
    value = args.number(param)
    args.require(value > 0, param, "> 0")
    return value


def _cosine(args: Args, lr: float | None) -> Schedule:
    steps, end = _length(args, "t_initial"), _fraction(args, "lr_min", lr)
    mul, decay, limit = _cycles(args)
    if limit == 1:
        return cosine(steps=steps, end=end)
    return cosine_restarts(steps=steps, mult=mul, decay=decay, end=end, cycles=limit)


def _poly(args: Args, lr: float | None) -> Schedule:
    steps, end = _length(args, "t_initial"), _fraction(args, "lr_min", lr)
    power = args.number("power", 0.5)
    args.require(power > 0, "power", "> 0")
    mul, decay, limit = _cycles(args)
    if limit == 1:
        return polynomial(steps=steps, power=power, end=end)
    args.require(limit <= _MAX_POLY_CYCLES, "cycle_limit", f"<= {_MAX_POLY_CYCLES} for poly")
    cycles = [
        affine(polynomial(steps=steps * mul**i, power=power, end=end / decay**i), factor=decay**i)
        for i in range(limit)
    ]
    return join(*cycles, constant(value=end))


def _step(args: Args, lr: float | None) -> Schedule:
    rate = args.number("decay_rate", 1.0)
    args.require(0 <= rate <= 1, "decay_rate", "in [0, 1]", "A growing LR is not expressible in lrlab.")
    return step(every=_length(args, "decay_t"), gamma=rate)


def _multistep(args: Args, lr: float | None) -> Schedule:
    rate = args.number("decay_rate", 1.0)
    args.require(0 <= rate <= 1, "decay_rate", "in [0, 1]", "A growing LR is not expressible in lrlab.")
    milestones = args.numbers("decay_t")
    args.require(milestones == sorted(milestones), "decay_t", "sorted (timm bisects it)")
    return multistep(milestones=tuple(max(0.0, m - 1) for m in milestones), gamma=rate)


_SCHEDULERS: dict[str, _Builder] = {
    "cosine": _cosine,
    "poly": _poly,
    "step": _step,
    "multistep": _multistep,
}

_CYCLIC = ("t_initial", "lr_min", "cycle_mul", "cycle_decay", "cycle_limit", "k_decay")
_ARGS: dict[str, tuple[str, ...]] = {
    "cosine": _CYCLIC,
    "poly": (*_CYCLIC, "power"),
    "step": ("decay_t", "decay_rate"),
    "multistep": ("decay_t", "decay_rate"),
}
_COMMON = (
    "warmup_t",
    "warmup_lr_init",
    "warmup_prefix",
    "t_in_epochs",
    "noise_range_t",
    "noise_pct",
    "noise_std",
    "noise_seed",
    "noise_type",
    "initialize",
)
