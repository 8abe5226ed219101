"""The distributions of ``[search]``: ``loguniform(a, b)``, ``uniform(a, b)``, ``int(a, b)``,
``choice(…)`` and ``1 - …``, parsed and printed canonically (see :mod:`lrlab.config.search`).

Nothing here imports optuna: a :class:`Distribution` calls the ``suggest_*`` methods of whatever
trial it is given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.spec import Call, Chain, format_value, parse_expression

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

DISTRIBUTIONS = ("choice", "int", "loguniform", "uniform")
_COMPLEMENT = re.compile(r"\s*1\s*-\s*(?P<rest>[A-Za-z].*)", re.S)


@dataclass(frozen=True)
class Distribution:
    """One parsed distribution; ``str()`` is its canonical text. ``complement``: the value is
    ``1 - x`` for ``x`` drawn from the rest (``1 - loguniform(1e-4, 0.1)``)."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    complement: bool = False

    def __str__(self) -> str:
        if self.kind == "choice":
            body = ", ".join(map(format_value, self.choices))
        else:
            extra = [f"step={format_value(self.step)}"] if self.step is not None else []
            extra += ["log=true"] if self.log and self.kind == "int" else []
            body = ", ".join([format_value(self.low), format_value(self.high), *extra])
        return f"{'1 - ' if self.complement else ''}{self.kind}({body})"

    def values(self) -> tuple[Any, ...]:
        """The values that must be valid: the choices, or both ends of the range."""
        if self.kind == "choice":
            return self.choices
        ends = (self.low, self.high)
        return tuple(_round(1 - x) for x in ends) if self.complement else ends

    def suggest(self, trial: BaseTrial, name: str) -> Any:
        """Draw a value from ``trial`` under ``name`` (``1-name`` for a complement)."""
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        log = self.kind == "loguniform"
        if self.complement:
            x = trial.suggest_float(f"1-{name}", self.low, self.high, log=log, step=self.step)
            return _round(1 - x)
        return trial.suggest_float(name, self.low, self.high, log=log, step=self.step)


def _round(value: float) -> float:
    """``1 - x`` without float noise (0.95, not 0.9500000000000001)."""
    return float(f"{value:.12g}")


def parse_distribution(key: str, text: str) -> Distribution:
    """Parse the distribution of ``search.<key>``; errors name the key and the fix."""
    where = f"search.{key}"
    match = _COMPLEMENT.fullmatch(text)
    try:
        call = parse_expression(match["rest"] if match else text)
    except LrlabError as error:
        raise LrlabError(f"{where}: {error}") from None
    if not isinstance(call, Call):
        fix = "Put a chain inside choice(…): choice(warmup(steps=2, start=0.1) >> cosine(steps=8))."
        raise invalid(where, "a distribution like loguniform(1e-4, 1)", text, fix)
    if call.name not in DISTRIBUTIONS:
        raise LrlabError(f"{where}: {unknown('distribution', call.name, DISTRIBUTIONS)}")
    if call.name == "choice":
        if match or call.kwargs or not call.args:
            raise invalid(where, "choice(value, …) with one value or more", text)
        return Distribution("choice", choices=tuple(_choice_text(v) for v in call.args))
    distribution = _range(where, call, text)
    if match and distribution.kind == "int":
        raise invalid(where, "1 - uniform(…) or 1 - loguniform(…)", text, "int(…) has no complement.")
    return Distribution(**{**distribution.__dict__, "complement": bool(match)})


def _choice_text(value: object) -> object:
    """A choice as Optuna stores it: numbers, booleans and strings as they are, specs as text."""
    if isinstance(value, Call | Chain):
        return spec_text(value)
    if isinstance(value, list) or value is None:
        raise invalid("choice value", "a number, true/false, a string or a spec", value)
    return value


def spec_text(value: object) -> str:
    """A parsed spec printed back (``cosine(steps=8)``, ``a() >> b()``)."""
    if isinstance(value, Chain):
        return " >> ".join(spec_text(part) for part in value.parts)
    if isinstance(value, Call):
        parts = [spec_text(arg) for arg in value.args]
        parts += [f"{name}={spec_text(arg)}" for name, arg in value.kwargs]
        return f"{value.name}({', '.join(parts)})"
    return format_value(value)


_OPTIONS = {"uniform": ("step",), "loguniform": (), "int": ("step", "log")}


def _range(where: str, call: Call, text: str) -> Distribution:
    kind, options = call.name, dict(call.kwargs)
    example = {"int": "int(1, 10)", "uniform": "uniform(0.5, 0.99)"}.get(kind, "loguniform(1e-4, 1)")
    extra = sorted(set(options) - set(_OPTIONS[kind]))
    if extra:
        raise LrlabError(f"{where}: {unknown(f'{kind}() option', extra[0], _OPTIONS[kind] or ['none'])}")
    numbers = [a for a in call.args if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(call.args) != 2 or len(numbers) != 2 or not all(map(math.isfinite, numbers)):
        raise invalid(where, f"{kind}(low, high) with two finite numbers", text, f"E.g. {example}.")
    low, high = numbers
    if kind == "int" and not all(isinstance(n, int) for n in numbers):
        raise invalid(where, "int(low, high) with two integers", text, f"E.g. {example}.")
    if low >= high:
        fix = f"Write {kind}({format_value(high)}, {format_value(low)})." if low > high else "Use choice(…)."
        raise invalid(where, f"{kind}(low, high) with low < high", text, fix)
    if kind == "loguniform" and low <= 0:
        raise invalid(where, "loguniform(low, high) with 0 < low", text, "Use uniform(…) to include 0.")
    log, step = options.get("log", False), options.get("step")
    if not isinstance(log, bool) or (log and (step is not None or low < 1)):
        raise invalid(where, "int(…, log=true) with low >= 1 and no step", text)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0):
        raise invalid(where, f"{kind}(…, step=s) with s > 0", text)
    if kind == "int" and step is not None and not isinstance(step, int):
        raise invalid(where, "int(…, step=k) with an integer k", text)
    return Distribution(kind, low, high, step, log)
