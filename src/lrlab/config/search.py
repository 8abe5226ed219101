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

:data:`KEYS` lists the short keys and what they accept; :func:`parse_search` checks a table
against them and against the settings it is given (:func:`lrlab.config.normalize_search` gives
the experiment's). The distributions are :mod:`lrlab.config.distributions`'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from lrlab.config.distributions import Distribution, parse_distribution
from lrlab.errors import LrlabError, invalid, unknown

BUILTIN_SPACES = ("adam", "adamw", "optimizers", "rmsprop", "sgd")
# schedule families that lrlab sizes to each trial's length (see lrlab.tune.space)
AUTO_SCHEDULES = ("constant", "cosine", "exponential", "linear", "multistep")
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


def parse_search(table: Mapping[str, Any], settings: Mapping[str, Collection[str]]) -> dict[str, str]:
    """The ``[search]`` table flattened (``[search.train]`` → ``train.…`` keys), every key a short
    key or a dotted ``table.setting`` of ``settings`` (table → its settings), and every
    distribution parsed and within its key's range, printed canonically."""
    flat: dict[str, str] = {}
    for key, text in _flatten(table):
        if key == "space":
            if text not in BUILTIN_SPACES:
                raise LrlabError(f"search.space: {unknown('built-in space', text, BUILTIN_SPACES)}")
            flat[key] = text
            continue
        check_key(key, settings)
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


def check_key(key: str, settings: Mapping[str, Collection[str]]) -> None:
    """Refuse keys that are neither short keys nor searchable dotted paths of ``settings``
    (table → its settings), naming the fix."""
    if key in KEYS:
        return
    match = _DOTTED.fullmatch(key)
    if match is None:
        known = [*KEYS, "space", "<table>.<setting>"]
        raise LrlabError(f"search: {unknown('key', key, known)}")
    table, name = match["table"], match["field"]
    if table not in settings:
        raise LrlabError(f"search: {unknown('table', table, settings)} (in key {key!r})")
    if name not in settings[table]:
        raise LrlabError(f"search: {unknown(f'[{table}] setting', name, settings[table])} (in key {key!r})")
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
