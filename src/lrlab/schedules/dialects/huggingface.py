"""Hugging Face ``transformers.get_scheduler`` types as lrlab schedules, value for value."""

from __future__ import annotations

import math
from collections.abc import Callable

from lrlab.errors import LrlabError, unknown
from lrlab.schedules.base import Schedule
from lrlab.schedules.compose import skip, take, warmup
from lrlab.schedules.dialects._common import Args, affine, chain, shift
from lrlab.schedules.families import (
    constant,
    cosine,
    cosine_restarts,
    inverse_sqrt,
    linear,
    polynomial,
    wsd,
)

_SHAPES = ("linear", "cosine", "1-sqrt")
_PLATEAU = "reduce_lr_on_plateau"


def from_hf(
    type: str,
    /,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    *,
    lr_init: float | None = None,
    **kwargs: object,
) -> Schedule:
    """The schedule ``transformers.get_scheduler(type, …)`` gives, as multipliers of the base LR.

    ``kwargs`` are ``scheduler_specific_kwargs`` by Hugging Face's names. Types (exact names, as
    ``SchedulerType`` has them) and their conventions (``W`` warmup, ``T`` training steps):

    * ``constant`` (ignores ``num_warmup_steps``, as ``get_scheduler`` does),
      ``constant_with_warmup``.
    * warmup of every type but the two below: ``s / W``, so **0 at step 0** and the peak at ``W``.
    * ``linear``: to 0 at ``T``, clamped. ``cosine`` (``num_cycles=0.5``): 0 at ``T``, then
      **rises again** (not clamped). ``cosine_with_min_lr`` (``min_lr_rate``, or ``min_lr`` with
      ``lr_init``): the same towards ``min_lr_rate``.
    * ``cosine_with_restarts`` (``num_cycles=1``): hard restarts, 0 from ``T`` on; under one
      cycle (``num_cycles < 1``), the cosine is cut off at ``T``.
    * ``polynomial`` (``lr_end=1e-7``, ``power=1.0``): to ``lr_end`` at ``T``, clamped. Hugging Face
      reads ``optimizer.defaults['lr']``, so ``lr_init`` is required.
    * ``inverse_sqrt`` (``timescale``, default ``W`` or 10 000): ``1 / sqrt((s - W + τ) / τ)``.
      (``get_scheduler`` itself passes no ``timescale``: leave it out to match it.)
    * ``cosine_warmup_with_min_lr`` (``min_lr_rate``/``min_lr``, ``warmup_lr_rate``,
      ``num_cycles=0.5``): warmup ``(s + 1) / W`` (or from ``warmup_lr_rate`` to 1 at ``W - 1``);
      the cosine runs one step ahead, so the minimum is reached at ``T - 1``, then it rises.
    * ``warmup_stable_decay`` (``num_decay_steps``, ``num_stable_steps`` or ``T``,
      ``warmup_type``, ``decay_type``, ``min_lr_ratio``, ``num_cycles``): warmup from
      ``min_lr_ratio`` at step 0; ``num_stable_steps`` wins over ``T`` when both are given. The
      cosine decay goes by ``(1 + cos(2 pi num_cycles p)) / 2`` over the decay steps (rising
      again when ``num_cycles > 0.5``), then holds ``min_lr_ratio``.

    ``reduce_lr_on_plateau`` is not a function of the step: use lrlab's plateau callback.

    >>> from_hf("linear", 2, 6).values(7)
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    build = _BUILDERS.get(type)
    if build is None:
        if type == _PLATEAU:
            raise LrlabError(
                f"from_hf({_PLATEAU!r}): ReduceLROnPlateau lowers the LR when a metric stops "
                "improving, so it is not a function of the step and has no schedule; use lrlab's "
                "plateau callback in training instead."
            )
        raise unknown("Hugging Face scheduler type", type, [*_BUILDERS, _PLATEAU])
    given: dict[str, object] = {"num_warmup_steps": num_warmup_steps, **kwargs}
    if num_training_steps is not None:
        given["num_training_steps"] = num_training_steps
    if lr_init is not None:
        given["lr_init"] = lr_init
    common = ("num_warmup_steps", "num_training_steps", "lr_init")
    return build(Args(f"from_hf({type!r})", given, [*common, *_KWARGS.get(type, ())]))


def _warmup_steps(args: Args) -> int:
    steps = args.number("num_warmup_steps", integer=True)
    args.require(steps >= 0, "num_warmup_steps", "an integer >= 0")
    return int(steps)


def _warmup(args: Args) -> Schedule | None:
    """Hugging Face's warmup ``s / max(1, W)``: from 0 to 1 over ``W`` steps."""
    steps = _warmup_steps(args)
    return warmup(steps=steps, start=0.0) if steps > 0 else None


def _training_steps(args: Args) -> int:
    if "num_training_steps" not in args.given:
        raise args.missing("num_training_steps", "It is the total number of training steps.")
    steps = args.number("num_training_steps", integer=True)
    args.require(steps >= 0, "num_training_steps", "an integer >= 0")
    return int(steps)


def _decay_steps(args: Args) -> int:
    """``max(1, T - W)``: the length Hugging Face divides by after the warmup."""
    return max(1, _training_steps(args) - _warmup_steps(args))


def _cycles(args: Args, default: float) -> float:
    cycles = args.number("num_cycles", default)
    args.require(cycles >= 0, "num_cycles", ">= 0")
    return cycles


def _wave(args: Args, steps: float, end: float = 0.0) -> Schedule:
    """``end + (1 - end) * (1 + cos(2 pi num_cycles p)) / 2`` with ``p = t / steps``, unclamped."""
    cycles = _cycles(args, 0.5)
    if cycles == 0:
        return constant()
    return cosine(steps=steps / (2 * cycles), end=end, periodic=True)


def _lr_init(args: Args, why: str) -> float:
    """``optimizer.defaults['lr']``, which Hugging Face reads to turn absolute LRs into ratios."""
    if "lr_init" not in args.given:
        raise args.missing("lr_init", f"{why}: pass the optimizer's lr as lr_init=.")
    lr = args.number("lr_init")
    args.require(lr > 0, "lr_init", "> 0")
    return lr


def _min_lr_rate(args: Args) -> float:
    """``min_lr_rate``, or ``min_lr / lr_init`` (Hugging Face reads ``optimizer.defaults['lr']``)."""
    rate = args.optional("min_lr_rate")
    min_lr = args.optional("min_lr")
    if rate is not None and min_lr is not None:
        raise args.fail("min_lr", "left out when min_lr_rate is given", "Give only one of the two.")
    if min_lr is not None:
        rate = min_lr / _lr_init(args, "min_lr is absolute")
    elif rate is None:
        raise args.missing("min_lr_rate", "Or give min_lr=… together with lr_init=….")
    param = "min_lr_rate" if min_lr is None else "min_lr"
    args.require(0 <= rate <= 1, param, "between 0 and the initial LR (rate in [0, 1])")
    return rate


def _constant(args: Args) -> Schedule:
    return constant()


def _constant_with_warmup(args: Args) -> Schedule:
    return _warmup(args) or constant()


def _linear(args: Args) -> Schedule:
    steps = _training_steps(args) - _warmup_steps(args)
    return chain(_warmup(args), linear(steps=steps) if steps > 0 else constant(value=0.0))


def _cosine(args: Args) -> Schedule:
    return chain(_warmup(args), _wave(args, _decay_steps(args)))


def _cosine_with_min_lr(args: Args) -> Schedule:
    return chain(_warmup(args), _wave(args, _decay_steps(args), end=_min_lr_rate(args)))


def _cosine_with_restarts(args: Args) -> Schedule:
    cycles, steps = _cycles(args, 1), _decay_steps(args)
    main: Schedule
    if cycles > 1:
        main = cosine_restarts(steps=steps / cycles, cycles=cycles)
    elif cycles == 1:
        main = cosine(steps=steps)
    else:  # less than one cycle: cut off at T, where Hugging Face drops to 0
        wave = cosine(steps=steps / cycles) if cycles else constant()
        main = take(wave, steps=steps) >> constant(value=0.0)
    return chain(_warmup(args), main)


def _polynomial(args: Args) -> Schedule:
    lr_init, lr_end = _lr_init(args, "lr_end is absolute"), args.number("lr_end", 1e-7)
    power = args.number("power", 1.0)
    args.require(0 <= lr_end < lr_init, "lr_end", f">= 0 and smaller than lr_init={lr_init!r}")
    args.require(power > 0, "power", "> 0")
    steps = _training_steps(args) - _warmup_steps(args)
    args.require(steps != 0, "num_training_steps", "!= num_warmup_steps (Hugging Face divides by T - W)")
    end = lr_end / lr_init
    main = polynomial(steps=steps, power=power, end=end) if steps > 0 else constant(value=end)
    return chain(_warmup(args), main)


def _inverse_sqrt(args: Args) -> Schedule:
    timescale = args.optional("timescale")
    if timescale is None:
        timescale = _warmup_steps(args) or 10_000
    args.require(timescale > 0, "timescale", "> 0")
    main = affine(inverse_sqrt(offset=timescale), factor=math.sqrt(timescale))
    return chain(_warmup(args), main)


def _cosine_warmup_with_min_lr(args: Args) -> Schedule:
    steps, main = _warmup_steps(args), _wave(args, _decay_steps(args), end=_min_lr_rate(args))
    rate = args.optional("warmup_lr_rate")
    args.require(rate is None or 0 <= rate <= 1, "warmup_lr_rate", "in [0, 1]")
    if steps >= 2:  # the warmup reaches 1 at W - 1, where the cosine starts (p = 0)
        if rate is None:
            return skip(warmup(steps=steps, start=0.0), steps=1) >> main
        return warmup(steps=steps - 1, start=rate) >> main
    if steps == 1 and rate is None:
        return main
    # The cosine starts one step in (p = 1 / (T - W) at W); a half period of 1 step or less is
    # too short for `skip` on its own, so `take` lengthens it first.
    short = main.duration is not None and main.duration <= 1
    later = skip(take(main, steps=2), steps=1) if short else shift(main, 1)
    return later if steps == 0 or rate is None else constant(value=rate, steps=1) >> later


def _warmup_stable_decay(args: Args) -> Schedule:
    steps, decay = _warmup_steps(args), args.number("num_decay_steps", integer=True)
    args.require(decay >= 0, "num_decay_steps", "an integer >= 0")
    stable = args.optional("num_stable_steps", integer=True)
    if stable is None:
        if "num_training_steps" not in args.given:
            raise args.missing("num_training_steps", "Or give num_stable_steps=….")
        stable = _training_steps(args) - steps - decay
        args.require(stable >= 0, "num_training_steps", ">= num_warmup_steps + num_decay_steps")
    args.require(stable >= 0, "num_stable_steps", "an integer >= 0")
    ratio = args.number("min_lr_ratio", 0.0)
    args.require(0 <= ratio <= 1, "min_lr_ratio", "in [0, 1]")
    shape = args.choice("warmup_type", "linear", _SHAPES)
    head = warmup(steps=steps, start=ratio, shape=shape) if steps > 0 else None
    return chain(head, _stable_decay(args, stable, decay, ratio))


def _stable_decay(args: Args, stable: float, decay: float, ratio: float) -> Schedule:
    shape = args.choice("decay_type", "cosine", _SHAPES)
    plateau = constant(steps=stable) if stable > 0 else None
    if decay == 0:
        return chain(plateau, constant(value=ratio))
    if shape != "cosine" or _cycles(args, 0.5) == 0.5:
        return wsd(steps=stable + decay, decay_steps=decay, shape=shape, end=ratio)
    return chain(plateau, take(_wave(args, decay, end=ratio), steps=decay), constant(value=ratio))


_BUILDERS: dict[str, Callable[[Args], Schedule]] = {
    "constant": _constant,
    "constant_with_warmup": _constant_with_warmup,
    "linear": _linear,
    "cosine": _cosine,
    "cosine_with_restarts": _cosine_with_restarts,
    "polynomial": _polynomial,
    "inverse_sqrt": _inverse_sqrt,
    "cosine_with_min_lr": _cosine_with_min_lr,
    "cosine_warmup_with_min_lr": _cosine_warmup_with_min_lr,
    "warmup_stable_decay": _warmup_stable_decay,
}

_KWARGS: dict[str, tuple[str, ...]] = {
    "cosine": ("num_cycles",),
    "cosine_with_restarts": ("num_cycles",),
    "polynomial": ("lr_end", "power"),
    "inverse_sqrt": ("timescale",),
    "cosine_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate"),
    "cosine_warmup_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate", "warmup_lr_rate"),
    "warmup_stable_decay": (
        "num_decay_steps",
        "num_stable_steps",
        "warmup_type",
        "decay_type",
        "min_lr_ratio",
        "num_cycles",
    ),
}
