"""Optimizer specs → torch optimizers, with parameter groups.

A spec names one of torch's optimizers and its settings, with torch's own argument names::

    sgd(momentum=0.9, nesterov=true, weight_decay=0.0005)
    rmsprop(alpha=0.9, eps=1e-08)       # alpha: decay rate of the squared-gradient average
    adam(betas=[0.9, 0.999])
    adamw(weight_decay=0.01)

Settings left out take torch's defaults. The learning rate is not part of a spec: schedules and
tuning own it, so it is an argument of :func:`build_optimizer`.

Three optimizers come from optional packages, with those packages' own argument names; each
package is imported only when an optimizer is built from its spec (parsing needs nothing extra)::

    schedulefree_sgd(momentum=0.9, warmup_steps=100)     # pip install "lrlab[schedulefree]"
    schedulefree_adamw(betas=[0.9, 0.999], warmup_steps=100)
    prodigy(d_coef=1.0, safeguard_warmup=true)           # pip install "lrlab[prodigy]"

Schedule-free optimizers take gradients at one point and are evaluated at another (their
``train()`` / ``eval()``); :func:`lrlab.train.fit` switches them (see :mod:`lrlab.train.averaged`).
Prodigy estimates its LR scale ``d`` itself; the ``lr`` it is given multiplies ``d`` (``1.0`` by
convention, as its authors recommend).

``weight_decay`` means two different things. For ``sgd``, ``rmsprop`` and ``adam`` it is L2
regularization: ``weight_decay * param`` is added to the gradient, so Adam's adaptive scaling
also scales the decay. For ``adamw`` it is decoupled decay (Loshchilov & Hutter): the weights
shrink by ``lr * weight_decay * param`` outside the adaptive update. Equal numbers do not give
equal regularization across the two kinds.

Usage::

    optimizer = build_optimizer(model, "sgd(momentum=0.9)", lr=0.1, lr_multipliers={"head": 10.0})
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.optim_values import RANGES, number, real, shown
from lrlab.param_groups import Params, param_groups
from lrlab.spec import Call, format_call, parse_expression

# Every accepted setting per optimizer, in torch's argument order (the canonical order). Left out
# on purpose: `lr` (an argument of build_optimizer), and `fused`, `capturable`, `differentiable`
# and Adam's `decoupled_weight_decay` (device- and version-dependent switches; use `adamw`).
_ADAM_KEYS = ("betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach")
_RMSPROP_KEYS = ("alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "foreach")
_OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], tuple[str, ...]]] = {
    "sgd": (torch.optim.SGD, ("momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach")),
    "rmsprop": (torch.optim.RMSprop, _RMSPROP_KEYS),
    "adam": (torch.optim.Adam, _ADAM_KEYS),
    "adamw": (torch.optim.AdamW, _ADAM_KEYS),
}


@dataclass(frozen=True)
class _Extra:
    """An optimizer of an optional package: where its class lives, its keys (the package's own
    names and order), and the extra that installs it."""

    module: str
    cls: str
    keys: tuple[str, ...]
    extra: str


# Left out: `lr` (as above); Prodigy's `fsdp_in_use` (a sharding switch it detects itself).
_SCHEDULEFREE_TAIL = ("weight_decay", "warmup_steps", "r", "weight_lr_power", "foreach")
_PRODIGY_KEYS = (
    *("betas", "beta3", "eps", "weight_decay", "decouple", "use_bias_correction"),
    *("safeguard_warmup", "d0", "d_coef", "growth_rate", "slice_p"),
)
_EXTRAS: dict[str, _Extra] = {
    "schedulefree_sgd": _Extra(
        "schedulefree", "SGDScheduleFree", ("momentum", *_SCHEDULEFREE_TAIL), "schedulefree"
    ),
    "schedulefree_adamw": _Extra(
        "schedulefree", "AdamWScheduleFree", ("betas", "eps", *_SCHEDULEFREE_TAIL), "schedulefree"
    ),
    "prodigy": _Extra("prodigyopt", "Prodigy", _PRODIGY_KEYS, "prodigy"),
}
_NAMES = (*_OPTIMIZERS, *_EXTRAS)
# Settings whose range depends on the optimizer: schedule-free SGD divides by its momentum when it
# moves the weights to the averaged point, so 0 is out (its AdamW's first beta: _check_first_beta).
_KINDS = {("schedulefree_sgd", "momentum"): "open_unit", ("prodigy", "beta3"): "beta"}
_COUNTS = {"warmup_steps": 0, "slice_p": 1}  # integer settings and their least value

_LR_FIX = "pass it as build_optimizer(model, spec, lr=…) or as [optimizer] lr = … in a config."


@dataclass(frozen=True, repr=False)
class OptimizerSpec:
    """An optimizer name and its validated settings; ``str(spec)`` is the canonical spec.

    ``OptimizerSpec("sgd", (("momentum", 0.9),))`` equals ``parse_optimizer("sgd(momentum=0.9)")``.
    Settings are checked on construction and stored in torch's argument order.
    """

    name: str
    settings: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in _NAMES:
            raise unknown("optimizer", str(self.name), _NAMES)
        keys = _keys(self.name)
        given = dict(self.settings)
        if len(given) != len(self.settings):
            raise LrlabError(f"{self.name}(): each setting may appear once, got {self.settings!r}.")
        for key in given:
            if key == "lr":
                raise LrlabError(f"{self.name}(): lr is not part of an optimizer spec; {_LR_FIX}")
            if key not in keys:
                raise unknown(f"{self.name}() parameter", str(key), keys)
        settings = {key: _setting(self.name, key, given[key]) for key in keys if key in given}
        _check_nesterov(self.name, settings)
        _check_first_beta(self.name, settings)
        object.__setattr__(self, "settings", tuple(settings.items()))

    @property
    def optimizer_class(self) -> type[torch.optim.Optimizer]:
        """The class this spec builds; an optional package's is imported here, on first use."""
        if self.name in _OPTIMIZERS:
            return _OPTIMIZERS[self.name][0]
        extra = _EXTRAS[self.name]
        try:
            module = importlib.import_module(extra.module)
        except ImportError:
            raise LrlabError(
                f"{self.name}() needs the {extra.module} package, which is not installed; "
                f'pip install "lrlab[{extra.extra}]".'
            ) from None
        built: type[torch.optim.Optimizer] = getattr(module, extra.cls)
        return built

    def kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments of :attr:`optimizer_class`."""
        return dict(self.settings)

    def __str__(self) -> str:
        return format_call(self.name, self.settings)

    __repr__ = __str__


def parse_optimizer(text: str | OptimizerSpec) -> OptimizerSpec:
    """Parse a spec such as ``"adam(betas=[0.9, 0.99])"``; an :class:`OptimizerSpec` is returned as is.

    Any problem raises :class:`LrlabError` naming the bad part and the fix.
    """
    if isinstance(text, OptimizerSpec):
        return text
    expression = parse_expression(text)
    if not isinstance(expression, Call):
        raise LrlabError(f"an optimizer spec is one call like 'sgd(momentum=0.9)', got {text!r}.")
    if expression.name not in _NAMES:
        raise unknown("optimizer", expression.name, _NAMES)
    if expression.args:
        example = f"{expression.name}({_keys(expression.name)[0]}=…)"
        raise LrlabError(f"{expression.name}() takes keyword arguments: write {example}.")
    return OptimizerSpec(expression.name, expression.kwargs)


def build_optimizer(
    model_or_params: Params,
    spec: str | OptimizerSpec,
    lr: float,
    *,
    decay_norm_and_bias: bool = False,
    lr_multipliers: Mapping[str, float] | None = None,
) -> torch.optim.Optimizer:
    """Build the torch optimizer ``spec`` names over the groups of :func:`param_groups`.

    ``lr`` is the base learning rate (``optimizer.defaults["lr"]``); each group's ``lr`` is the
    base times its multiplier. Everything is validated before torch sees it. For ``prodigy``,
    ``lr`` multiplies the LR scale it estimates (``1.0`` by convention), and ``lr_multipliers``
    are refused: Prodigy takes one LR for every group.
    """
    parsed = parse_optimizer(spec)
    rate = number("lr", lr, "lr")
    if parsed.name == "prodigy" and lr_multipliers:
        fix = "Prodigy scales every group by the one d it estimates; train with one LR (lr=1.0)."
        raise invalid("lr_multipliers", "empty for prodigy()", shown(dict(lr_multipliers)), fix)
    groups = param_groups(
        model_or_params, rate, decay_norm_and_bias=decay_norm_and_bias, lr_multipliers=lr_multipliers
    )
    cls = parsed.optimizer_class
    with contextlib.redirect_stdout(io.StringIO()):  # Prodigy's constructor prints; lrlab never does
        return cls(groups, **{"lr": rate, **parsed.kwargs()})


def _keys(name: str) -> tuple[str, ...]:
    return _OPTIMIZERS[name][1] if name in _OPTIMIZERS else _EXTRAS[name].keys


def _setting(owner: str, key: str, value: object) -> object:
    kind = _KINDS.get((owner, key), key)
    try:
        if key == "betas":
            betas = [real(item, "beta") for item in value] if isinstance(value, (list, tuple)) else []
            if len(betas) != 2 or None in betas:
                fix = "E.g. betas=[0.9, 0.999]."
                raise invalid("betas", "a list of two numbers in [0, 1)", shown(value), fix)
            return tuple(betas)
        if key == "beta3" and value is None:  # Prodigy: none means sqrt(beta2)
            return None
        if key in _COUNTS:
            least = _COUNTS[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise invalid(key, f"an integer >= {least}", shown(value))
            return value
        if kind in RANGES:
            return number(key, value, kind)
        if isinstance(value, bool) or (key == "foreach" and value is None):
            return value
        raise invalid(key, "true or false" + (" or none" if key == "foreach" else ""), shown(value))
    except LrlabError as error:
        raise LrlabError(f"{owner}(): {error}") from None


def _check_nesterov(owner: str, settings: Mapping[str, Any]) -> None:
    momentum, dampening = settings.get("momentum", 0.0), settings.get("dampening", 0.0)
    # torch accepts Nesterov momentum only with momentum > 0 and dampening exactly 0.
    if settings.get("nesterov") and (momentum <= 0 or dampening != 0):
        fix = "Set momentum=0.9 and dampening=0.0, or nesterov=false."
        error = invalid("nesterov", "false unless momentum > 0 and dampening = 0", True, fix)
        raise LrlabError(f"{owner}(): {error}")


def _check_first_beta(owner: str, settings: Mapping[str, Any]) -> None:
    # Schedule-free AdamW moves the weights to the averaged point by a factor 1 / beta1.
    if owner == "schedulefree_adamw" and "betas" in settings and settings["betas"][0] == 0:
        fix = "E.g. betas=[0.9, 0.999]."
        error = invalid(
            "betas",
            "two numbers, the first in (0, 1) and the second in [0, 1)",
            shown(list(settings["betas"])),
            fix,
        )
        raise LrlabError(f"{owner}(): {error}")
