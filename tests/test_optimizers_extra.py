"""The optional optimizers' specs: schedule-free SGD/AdamW and Prodigy — round trips, the classes
they build, errors, and the missing-package message."""

from __future__ import annotations

import pickle
import sys

import pytest
import torch
from torch import nn

from lrlab.errors import LrlabError
from lrlab.optim import OptimizerSpec, build_optimizer, parse_optimizer

schedulefree = pytest.importorskip("schedulefree")
prodigyopt = pytest.importorskip("prodigyopt")

CANONICAL = [
    "schedulefree_sgd()",
    "schedulefree_sgd(momentum=0.95, weight_decay=0.0005, warmup_steps=100, r=1.0, weight_lr_power=2.0)",
    "schedulefree_adamw(betas=[0.9, 0.999], eps=1e-08, weight_decay=0.01, warmup_steps=10, foreach=false)",
    "prodigy()",
    "prodigy(betas=[0.9, 0.99], beta3=none, weight_decay=0.01, decouple=false, use_bias_correction=true, "
    "safeguard_warmup=true, d0=1e-05, d_coef=0.5, growth_rate=1.02, slice_p=11)",
]


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_specs_round_trip(text: str) -> None:
    spec = parse_optimizer(text)
    assert str(spec) == text and parse_optimizer(str(spec)) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_settings_print_in_the_packages_argument_order_with_numbers_normalized() -> None:
    spec = parse_optimizer("schedulefree_sgd(weight_lr_power=0, warmup_steps=5, r=1, momentum=0.8)")
    assert str(spec) == "schedulefree_sgd(momentum=0.8, warmup_steps=5, r=1.0, weight_lr_power=0.0)"
    assert spec == OptimizerSpec(
        "schedulefree_sgd", (("r", 1.0), ("momentum", 0.8), ("warmup_steps", 5), ("weight_lr_power", 0))
    )


@pytest.mark.parametrize(
    ("text", "cls", "settings"),
    [
        (
            "schedulefree_sgd(momentum=0.8, warmup_steps=7)",
            "SGDScheduleFree",
            {"momentum": 0.8, "warmup_steps": 7},
        ),
        (
            "schedulefree_adamw(betas=[0.95, 0.99], r=0.5)",
            "AdamWScheduleFree",
            {"betas": (0.95, 0.99), "r": 0.5},
        ),
        ("prodigy(d_coef=2.0, safeguard_warmup=true)", "Prodigy", {"d_coef": 2.0, "safeguard_warmup": True}),
    ],
)
def test_builds_the_packages_class_with_the_settings_and_decay_free_norms(
    text: str, cls: str, settings: dict[str, object]
) -> None:
    optimizer = build_optimizer(model(), text, lr=1.0)
    assert type(optimizer).__name__ == cls
    assert type(optimizer).__module__.split(".")[0] in ("schedulefree", "prodigyopt")
    assert {key: optimizer.defaults[key] for key in settings} == settings
    assert [group.get("weight_decay") for group in optimizer.param_groups][1] == 0.0  # biases, norms


def test_prodigy_is_built_without_printing(capfd: pytest.CaptureFixture[str]) -> None:
    build_optimizer(model(), "prodigy(weight_decay=0.01)", lr=1.0)  # prodigyopt prints here
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schedulefree_sgd(momentum=0)",
            "schedulefree_sgd(): momentum must be a number in (0, 1), got momentum=0.",
        ),
        ("schedulefree_sgd(momentum=1.0)", "momentum must be a number in (0, 1)"),
        ("schedulefree_adamw(betas=[0.0, 0.999])", "the first in (0, 1)"),
        ("schedulefree_adamw(warmup_steps=-1)", "warmup_steps must be an integer >= 0, got warmup_steps=-1."),
        ("schedulefree_adamw(warmup_steps=2.5)", "warmup_steps must be an integer >= 0"),
        ("schedulefree_sgd(r=-1)", "r must be a finite number >= 0"),
        ("schedulefree_sgd(betas=[0.9, 0.999])", "unknown schedulefree_sgd() parameter 'betas'"),
        (
            "schedulefree_adamw(momentum=0.9)",
            "Known: betas, eps, foreach, r, warmup_steps, weight_decay, weight_lr_power.",
        ),
        ("schedulefree_adamw(lr=0.01)", "lr is not part of an optimizer spec"),
        ("prodigy(lr=1.0)", "lr is not part of an optimizer spec"),
        ("prodigy(d0=0)", "d0 must be a finite number > 0"),
        ("prodigy(d_coef=-1)", "d_coef must be a finite number > 0"),
        ("prodigy(growth_rate=0.5)", "growth_rate must be a finite number >= 1"),
        ("prodigy(slice_p=0)", "slice_p must be an integer >= 1"),
        ("prodigy(beta3=1.5)", "beta3 must be a number in [0, 1)"),
        ("prodigy(decouple=1)", "decouple must be true or false"),
        ("prodigy(fsdp_in_use=true)", "unknown prodigy() parameter 'fsdp_in_use'"),
        ("prodigy(d_coeff=2)", "did you mean 'd_coef'?"),
        ("schedulefree_adam()", "unknown optimizer 'schedulefree_adam'; did you mean 'schedulefree_adamw'?"),
    ],
)
def test_bad_specs_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(LrlabError) as error:
        parse_optimizer(text)
    assert expected in str(error.value)


def test_prodigy_refuses_lr_multipliers() -> None:
    with pytest.raises(LrlabError, match=r"lr_multipliers must be empty for prodigy\(\).*one LR"):
        build_optimizer(model(), "prodigy()", lr=1.0, lr_multipliers={"2": 10.0})


def test_prodigy_takes_any_lr_without_a_word(capfd: pytest.CaptureFixture[str]) -> None:
    optimizer = build_optimizer(model(), "prodigy()", lr=0.5)  # 1.0 by convention; not enforced
    assert optimizer.defaults["lr"] == 0.5 and capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("spec", "package", "extra"),
    [
        ("schedulefree_sgd()", "schedulefree", "schedulefree"),
        ("schedulefree_adamw()", "schedulefree", "schedulefree"),
        ("prodigy()", "prodigyopt", "prodigy"),
    ],
)
def test_without_the_package_parsing_works_and_building_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, spec: str, package: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # import now fails as if not installed
    parsed = parse_optimizer(spec)
    with pytest.raises(LrlabError) as error:
        build_optimizer(model(), parsed, lr=1.0)
    message = str(error.value)
    assert f'pip install "lrlab[{extra}]"' in message and package in message and "\n" not in message
