"""The ``[search]`` grammar: one distribution per key, parsed, checked and printed canonically.

Each key of an experiment's ``[search]`` table names a setting and holds a distribution in
quotes::

    lr = "loguniform(1e-4, 1)"            # log scale, both ends included
    momentum = "uniform(0.5, 0.99)"       # linear scale; uniform(a, b, step=0.01) for a grid
    beta2 = "1 - loguniform(1e-4, 0.1)"   # 1 − β on a log scale: β2 in [0.9, 0.9999]
    warmup = "int(0, 5)"                  # integers a … b; int(a, b, step=2), int(a, b, log=true)
    optimizer = "choice('sgd(momentum=0.9)', 'rmsprop', 'adamw')"
    schedule = "choice('constant', 'cosine', warmup(steps=2, start=0.1) >> cosine(steps=18))"
    "train.epochs" = "int(10, 30)"        # any [task]/[train]/… setting by its dotted path

:data:`KEYS` lists the short keys and what they accept; :func:`normalize_search` is what
:mod:`lrlab.config` calls when an experiment file is loaded. Nothing here imports optuna: a
:class:`Distribution` calls the ``suggest_*`` methods of whatever trial it is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.spec import Call, Chain, format_value, parse_expression

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

DISTRIBUTIONS = ("choice", "int", "loguniform", "uniform")
BUILTIN_SPACES = ("adam", "adamw", "optimizers", "rmsprop", "sgd")
# schedule families that lrlab sizes to each trial's length (see lrlab.tune.space)
AUTO_SCHEDULES = ("constant", "cosine", "exponential", "linear", "multistep")
_COMPLEMENT = re.compile(r"\s*1\s*-\s*(?P<rest>[A-Za-z].*)", re.S)
_DOTTED = re.compile(r"(?P<table>[a-z_]+)\.(?P<field>[a-z_]+)")


@dataclass(frozen=True)
class Domain:
    """The values a key accepts: ``kind`` is "number", "int", "bool", "optimizer", "schedule"
    or "setting" (a dotted path, checked against the experiment); numbers lie between ``low``
    and ``high``, ends excluded where ``open_low``/``open_high``."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` lies in the range."""
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def describe(self) -> str:
        """The range in words: ``[0, 1)``, ``> 0``."""
        if math.isinf(self.high):
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


@dataclass(frozen=True)
class Key:
    """A short key of ``[search]``: its domain and the optimizers it applies to (all when empty)."""

    domain: Domain
    optimizers: tuple[str, ...] = ()


_UNIT = Domain("number", 0, 1, open_high=True)
_POSITIVE = Domain("number", 0, open_low=True)
_ALL = ("sgd", "rmsprop", "adam", "adamw")
_ADAMS = ("adam", "adamw")
KEYS: dict[str, Key] = {
    "optimizer": Key(Domain("optimizer")),
    "lr": Key(_POSITIVE),
    "schedule": Key(Domain("schedule")),
    "warmup": Key(Domain("int", 0)),
    "batch_size": Key(Domain("int", 1)),
    "weight_decay": Key(Domain("number", 0), _ALL),
    "momentum": Key(_UNIT, ("sgd",)),
    "dampening": Key(Domain("number", 0, 1), ("sgd",)),
    "nesterov": Key(Domain("bool"), ("sgd",)),
    "alpha": Key(Domain("number", 0, 1, open_low=True, open_high=True), ("rmsprop",)),
    "centered": Key(Domain("bool"), ("rmsprop",)),
    "eps": Key(_POSITIVE, ("rmsprop", *_ADAMS)),
    "beta1": Key(_UNIT, _ADAMS),
    "beta2": Key(_UNIT, _ADAMS),
    "amsgrad": Key(Domain("bool"), _ADAMS),
}
"""Short keys: ``lr`` (the base LR), ``optimizer`` and ``schedule`` (choices of specs or names),
``warmup`` (epochs of linear warmup before the schedule), ``batch_size``, and the optimizer
settings, each sampled only for the optimizers that have it (``momentum`` for SGD, ``alpha``
for RMSprop, ``beta1``/``beta2`` for the Adam family, …)."""
# dotted paths that would change the data, its split, or what a run is, not how it learns
FORBIDDEN = {
    "task": ("dataset", "data_dir", "val_fraction"),
    "train": ("seed", "device", "amp", "eval_batch_size", "batch_size"),
    "optimizer": ("name", "lr", "lr_multipliers"),
}
EXAMPLES = {
    "lr": "loguniform(1e-4, 1)",
    "weight_decay": "loguniform(1e-6, 1e-2)",
    "momentum": "1 - loguniform(0.03, 0.3)",
    "alpha": "1 - loguniform(1e-3, 0.2)",
    "eps": "loguniform(1e-10, 1e-3)",
    "beta1": "1 - loguniform(0.02, 0.5)",
    "beta2": "1 - loguniform(1e-4, 0.1)",
    "warmup": "int(0, 5)",
    "batch_size": "choice(32, 64, 128)",
}
TABLES = ("task", "train", "optimizer", "early_stopping", "plateau", "divergence")


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


def normalize_search(table: Mapping[str, Any]) -> dict[str, str]:
    """The ``[search]`` table flattened (``[search.train]`` → ``train.…`` keys), every key known
    and every distribution parsed and within its key's range, printed canonically."""
    flat: dict[str, str] = {}
    for key, text in _flatten(table):
        if key == "space":
            if text not in BUILTIN_SPACES:
                raise LrlabError(f"search.space: {unknown('built-in space', text, BUILTIN_SPACES)}")
            flat[key] = text
            continue
        check_key(key)
        distribution = parse_distribution(key, text)
        flat[key] = str(check_values(key, distribution) if key in KEYS else distribution)
    return flat


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            items += _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, str):
            items.append((f"{prefix}{key}", value))
        else:
            fix = 'Write the distribution in quotes, e.g. lr = "loguniform(1e-4, 1)".'
            raise invalid(f"search.{prefix}{key}", "a string", value, fix)
    return items


def check_key(key: str) -> None:
    """Refuse keys that are neither short keys nor searchable dotted paths, naming the fix."""
    if key in KEYS:
        return
    match = _DOTTED.fullmatch(key)
    if match is None:
        known = [*KEYS, "space", "<table>.<setting>"]
        raise LrlabError(f"search: {unknown('key', key, known)}")
    from lrlab.config import Experiment

    table, name = match["table"], match["field"]
    if table not in TABLES:
        raise LrlabError(f"search: {unknown('table', table, TABLES)} (in key {key!r})")
    fields = Experiment.model_fields[table].annotation.model_fields  # type: ignore[union-attr]
    if name not in fields:
        raise LrlabError(f"search: {unknown(f'[{table}] setting', name, fields)} (in key {key!r})")
    if name in FORBIDDEN.get(table, ()):
        short = {"batch_size": "batch_size", "name": "optimizer", "lr": "lr"}.get(name)
        fix = f' Search it as {short} = "…".' if short else " It is not a setting to tune."
        raise LrlabError(f"search.{key} cannot be searched.{fix}")


def check_values(key: str, distribution: Distribution) -> Distribution:
    """Check the values ``distribution`` can produce against the domain of short key ``key``;
    return it with optimizer and schedule choices in canonical form."""
    domain = KEYS[key].domain
    where = f"search.{key}"
    if domain.kind in ("optimizer", "schedule", "bool"):
        return _check_choices(where, domain.kind, distribution)
    if domain.kind == "int" and distribution.kind not in ("int", "choice"):
        raise invalid(where, "int(low, high) or choice(…) of integers", str(distribution))
    for value in distribution.values():
        integral = isinstance(value, int) and not isinstance(value, bool)
        number = integral or (isinstance(value, float) and domain.kind == "number")
        if not number or not domain.holds(float(value)):
            kind = "integers" if domain.kind == "int" else "numbers"
            fix = f"E.g. {EXAMPLES[key]}." if key in EXAMPLES else ""
            raise invalid(where, f"a distribution of {kind} {domain.describe()}", str(distribution), fix)
    return distribution


def _check_choices(where: str, kind: str, distribution: Distribution) -> Distribution:
    if distribution.kind != "choice":
        raise invalid(where, f"choice(…) of {kind} values", str(distribution))
    if kind == "bool":
        if not all(isinstance(value, bool) for value in distribution.choices):
            raise invalid(where, "choice(true, false) or one of them", str(distribution))
        return distribution
    canonical = tuple(canonical_choice(kind, value, where) for value in distribution.choices)
    if len(set(canonical)) != len(canonical):
        raise invalid(where, "a choice without repeats", str(distribution))
    return Distribution("choice", choices=canonical)


def canonical_choice(kind: str, value: object, where: str) -> str:
    """An optimizer or schedule choice in canonical form (a bare family name stays a name)."""
    if not isinstance(value, str):
        raise invalid(where, f"a choice of {kind} specs or names", value)
    try:
        if kind == "optimizer":
            from lrlab.optim import parse_optimizer

            return str(parse_optimizer(value if "(" in value else f"{value}()"))
        if "(" not in value:
            if value not in AUTO_SCHEDULES:
                raise unknown("schedule family", value, AUTO_SCHEDULES)
            return value
        from lrlab.schedules import parse

        return str(parse(value))
    except LrlabError as error:
        raise LrlabError(f"{where}: {error}") from None
