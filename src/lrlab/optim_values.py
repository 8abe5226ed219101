"""Numbers in optimizer settings: their ranges, the float32 cap, and how a bad value is shown."""

from __future__ import annotations

import math
from collections.abc import Callable

from lrlab.errors import invalid
from lrlab.spec import Call, Chain

# Torch hands settings to float32 kernels (max 3.4e38); lr, multipliers and the schedule's values
# are each capped at 1e12, so their products fit too.
MAX_SETTING = 1e12
CAPPED = {"weight_decay", "eps", "lr", "r", "weight_lr_power", "d0", "d_coef"}
RANGES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "momentum": ("a number in [0, 1)", lambda x: 0 <= x < 1),
    "dampening": ("a number in [0, 1]", lambda x: 0 <= x <= 1),
    "weight_decay": ("a finite number >= 0", lambda x: 0 <= x < math.inf),
    "alpha": ("a number in (0, 1)", lambda x: 0 < x < 1),
    "eps": ("a finite number > 0", lambda x: 0 < x < math.inf),
    "beta": ("a number in [0, 1)", lambda x: 0 <= x < 1),
    "lr": ("a finite number > 0", lambda x: 0 < x < math.inf),
    "open_unit": ("a number in (0, 1)", lambda x: 0 < x < 1),
    "r": ("a finite number >= 0", lambda x: 0 <= x < math.inf),
    "weight_lr_power": ("a finite number >= 0", lambda x: 0 <= x < math.inf),
    "d0": ("a finite number > 0", lambda x: 0 < x < math.inf),
    "d_coef": ("a finite number > 0", lambda x: 0 < x < math.inf),
    "growth_rate": ("a finite number >= 1 (leave it out for no limit)", lambda x: 1 <= x < math.inf),
}


def real(value: object, kind: str) -> float | None:
    """``value`` as a float when it is a number in the range of ``kind``, else ``None``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: one canonical zero
    except OverflowError:  # an integer literal beyond float range
        return None
    return number if RANGES[kind][1](number) else None


def number(param: str, value: object, kind: str) -> float:
    number = real(value, kind)
    if number is None:
        raise invalid(param, RANGES[kind][0], shown(value))
    if kind in CAPPED and number > MAX_SETTING:
        raise invalid(param, "at most 1e12 (larger values overflow float32 in torch)", shown(value))
    return number


class Shown(str):
    """A bad value as error messages show it: spec calls by name, long values cut."""

    def __repr__(self) -> str:
        return str(self)


def shown(value: object) -> Shown:
    text = f"{value.parts[0].name}(…) >> …" if isinstance(value, Chain) else repr(value)
    text = f"{value.name}(…)" if isinstance(value, Call) else text
    return Shown(text if len(text) <= 80 else text[:77] + "...")
