"""What a range test sweeps: the hyperparameters it can vary, the check that an optimizer has the
one asked for, and how a value of the ladder is written into the optimizer's param groups."""

from __future__ import annotations

from typing import Literal

import torch

from lrlab.errors import invalid
from lrlab.torch_bridge import write_lrs
from lrlab.train.averaged import check_lr_sweep

Hyperparameter = Literal["lr", "weight_decay", "momentum"]  # what a range test sweeps
HYPERPARAMETERS: tuple[Hyperparameter, ...] = ("lr", "weight_decay", "momentum")


def check_param(optimizer: torch.optim.Optimizer, param: str) -> Hyperparameter:
    """``param`` as a sweepable hyperparameter of ``optimizer``, or an error naming the fix."""
    if param not in HYPERPARAMETERS:
        raise invalid("param", "'lr', 'weight_decay' or 'momentum'", param)
    if param == "lr":
        check_lr_sweep(optimizer)  # Prodigy: nothing to find
    group = optimizer.param_groups[0]
    if param == "momentum" and "momentum" not in group and "betas" not in group:
        fix = "Sweep momentum with sgd, rmsprop, adam or adamw."
        raise invalid("param", f"a setting {type(optimizer).__name__} has", param, fix)
    if param == "weight_decay" and "weight_decay" not in group:
        raise invalid("param", f"a setting {type(optimizer).__name__} has", param)
    return param


def set_param(
    optimizer: torch.optim.Optimizer, param: Hyperparameter, value: float, ratios: list[float]
) -> None:
    """Write ``value`` into every group: the LR times the group's ratio to the base LR, the
    momentum (Adam's first beta) as is, the weight decay into groups that are not exempt."""
    if param == "lr":
        write_lrs(optimizer, ratios, value)
        return
    for group in optimizer.param_groups:
        if param == "momentum" and "betas" in group:
            group["betas"] = (value, group["betas"][1])
        elif param == "momentum":
            group["momentum"] = value
        elif not _decay_exempt(group):
            group["weight_decay"] = value


def _decay_exempt(group: dict[str, object]) -> bool:
    params = group["params"]
    return isinstance(params, list) and all(p.ndim <= 1 for p in params)
