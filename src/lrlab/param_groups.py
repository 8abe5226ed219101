"""Parameter groups: weight decay off for biases and normalization layers, LR multipliers by
name prefix; each parameter in exactly one group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.optim_values import number, shown

# _NormBase: BatchNorm*, InstanceNorm*, SyncBatchNorm and their lazy forms.
_NORM_LAYERS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
_NORM_LAYERS += (nn.LocalResponseNorm, nn.CrossMapLRN2d) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
Params = nn.Module | Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]]


def param_groups(
    model_or_params: Params,
    lr: float,
    *,
    decay_norm_and_bias: bool = False,
    lr_multipliers: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Split parameters into torch param groups, each parameter in exactly one group.

    Unless ``decay_norm_and_bias``, biases, normalization-layer parameters and every parameter
    with at most one dimension go to groups with ``weight_decay=0.0``. ``lr_multipliers`` maps a
    qualified-name prefix (``"head"`` matches ``head.weight`` and ``head.0.bias``, not
    ``header.weight``) to a factor of ``lr``; the longest matching prefix wins. Groups appear in
    the order of their first parameter and carry only torch's own keys.
    """
    rate = number("lr", lr, "lr")
    multipliers = _check_multipliers(lr_multipliers)
    named = _named_parameters(model_or_params)
    unused = set(multipliers)
    groups: dict[tuple[bool, float], list[torch.Tensor]] = {}
    for name, param, exempt in named:
        prefix = max((p for p in multipliers if name == p or name.startswith(p + ".")), key=len, default="")
        unused.discard(prefix)
        key = (exempt and not decay_norm_and_bias, multipliers.get(prefix, 1.0))
        groups.setdefault(key, []).append(param)
    if unused:
        raise _unmatched(min(unused), [name for name, _, _ in named])
    return [
        {"params": params, "lr": rate * factor} | ({"weight_decay": 0.0} if exempt else {})
        for (exempt, factor), params in groups.items()
    ]


def _check_multipliers(multipliers: Mapping[str, float] | None) -> dict[str, float]:
    if multipliers is None:
        return {}
    if not isinstance(multipliers, Mapping):
        raise invalid("lr_multipliers", 'a mapping like {"head": 10.0}', shown(multipliers))
    for prefix in multipliers:
        if not isinstance(prefix, str) or not prefix or prefix.startswith(".") or prefix.endswith("."):
            raise invalid("lr_multipliers", 'keyed by parameter-name prefixes like "head"', shown(prefix))
    return {prefix: number(f"lr_multipliers[{prefix!r}]", v, "lr") for prefix, v in multipliers.items()}


def _named_parameters(model_or_params: Params) -> list[tuple[str, torch.Tensor, bool]]:
    """``(name, param, exempt from decay)`` for each distinct parameter, in model order."""
    found: dict[int, tuple[str, torch.Tensor, bool]] = {}
    if isinstance(model_or_params, nn.Module):
        for module_name, module in model_or_params.named_modules():
            for leaf, param in module.named_parameters(recurse=False):
                name = f"{module_name}.{leaf}" if module_name else leaf
                exempt = isinstance(module, _NORM_LAYERS) or leaf == "bias" or param.ndim <= 1
                found.setdefault(id(param), (name, param, exempt))
    elif isinstance(model_or_params, Iterable) and not isinstance(
        model_or_params, (str, bytes, torch.Tensor)
    ):
        for item in model_or_params:
            name, param = item if isinstance(item, tuple) and len(item) == 2 else ("", item)
            if not isinstance(name, str) or not isinstance(param, torch.Tensor) or not param.is_leaf:
                raise invalid("model_or_params", "a module or an iterable of leaf tensors", shown(item))
            exempt = name.rpartition(".")[2] == "bias" or param.ndim <= 1
            found.setdefault(id(param), (name, param, exempt))
    else:
        raise invalid("model_or_params", "a module or an iterable of parameters", shown(model_or_params))
    if not found:
        raise invalid("model_or_params", "non-empty", shown(model_or_params), "The model has no parameters.")
    return list(found.values())


def _unmatched(prefix: str, names: list[str]) -> LrlabError:
    tops = {name.split(".")[0] for name in names if name}
    if tops:
        return unknown("lr_multipliers prefix", prefix, tops)
    fix = "Pass model.named_parameters() or the model."
    return invalid("lr_multipliers", "empty for unnamed parameters", {prefix: "…"}, fix)
