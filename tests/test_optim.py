"""Optimizer specs: round trips, the torch optimizers they build, parameter groups, errors."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from lrlab.errors import LrlabError
from lrlab.optim import OptimizerSpec, build_optimizer, param_groups, parse_optimizer

KEYS = {
    "sgd": ["momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach"],
    "rmsprop": ["alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "foreach"],
    "adam": ["betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach"],
    "adamw": ["betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach"],
}
CLASSES = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}
CLASSES["adamw"] = torch.optim.AdamW
CANONICAL = [
    "sgd(momentum=0.9, weight_decay=0.0005, nesterov=true)",
    "sgd()",
    "sgd(momentum=0.5, dampening=0.1, maximize=true, foreach=false)",
    "rmsprop(alpha=0.9, eps=1e-08)",
    "rmsprop(alpha=0.99, eps=0.001, weight_decay=0.0, momentum=0.9, centered=true, foreach=none)",
    "adam(betas=[0.9, 0.999])",
    "adam(betas=[0.0, 0.5], eps=1e-06, weight_decay=0.1, amsgrad=true)",
    "adamw(weight_decay=0.01)",
    "adamw(betas=[0.95, 0.98], foreach=true)",
]


class Net(nn.Module):
    """Conv + BatchNorm + Linear, plus a sibling named like the head and a 1-d free parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(64, 3)
        self.header = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(torch.relu(self.conv(x))).flatten(1)  # so the conv bias gets a gradient
        return self.header(self.head(hidden)) * self.scale


def make_net() -> Net:
    torch.manual_seed(0)
    return Net()


def names_in(group: dict[str, object], model: nn.Module) -> set[str]:
    ids = {id(p) for p in group["params"]}  # type: ignore[attr-defined]
    return {name for name, p in model.named_parameters() if id(p) in ids}


# --- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_specs_round_trip_exactly(text: str) -> None:
    spec = parse_optimizer(text)
    assert str(spec) == repr(spec) == text
    assert parse_optimizer(str(spec)) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert hash(parse_optimizer(text)) == hash(spec)
    assert parse_optimizer(spec) is spec


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("sgd( nesterov=true , momentum=9e-1 )", "sgd(momentum=0.9, nesterov=true)"),
        ("sgd(momentum=0, weight_decay=-0.0)", "sgd(momentum=0.0, weight_decay=0.0)"),
        ("adam(betas=[0, 1e-1]) # comment", "adam(betas=[0.0, 0.1])"),
        ("rmsprop(eps=1, alpha=0.9)", "rmsprop(alpha=0.9, eps=1.0)"),
        ("adamw(foreach=none, amsgrad=false)", "adamw(amsgrad=false, foreach=none)"),
    ],
)
def test_equivalent_spellings_print_one_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_optimizer(text)) == canonical


def test_spec_built_in_python_equals_the_parsed_one() -> None:
    spec = OptimizerSpec("adam", (("weight_decay", 0), ("betas", [0.9, 0.99])))
    assert spec == parse_optimizer("adam(betas=[0.9, 0.99], weight_decay=0.0)")
    assert spec.settings == (("betas", (0.9, 0.99)), ("weight_decay", 0.0))
    assert spec.optimizer_class is torch.optim.Adam
    assert spec.kwargs() == {"betas": (0.9, 0.99), "weight_decay": 0.0}


@st.composite
def valid_specs(draw: st.DrawFn) -> OptimizerSpec:
    name = draw(st.sampled_from(sorted(KEYS)))
    values = {
        "momentum": st.floats(0.0, 0.999),
        "dampening": st.just(0.0),
        "weight_decay": st.floats(0.0, 1e3),
        "alpha": st.floats(1e-6, 0.999),
        "eps": st.floats(1e-12, 1.0),
        "betas": st.tuples(st.floats(0.0, 0.999), st.floats(0.0, 0.999)),
        "foreach": st.sampled_from([True, False, None]),
    }
    keys = draw(st.lists(st.sampled_from(KEYS[name]), unique=True))
    settings = {key: draw(values.get(key, st.booleans())) for key in keys}
    if settings.get("nesterov"):
        settings["momentum"] = draw(st.floats(0.01, 0.99))
    return OptimizerSpec(name, tuple(settings.items()))


@settings(max_examples=100, deadline=None)
@given(spec=valid_specs())
def test_every_valid_spec_round_trips(spec: OptimizerSpec) -> None:
    assert parse_optimizer(str(spec)) == spec
    assert str(parse_optimizer(str(spec))) == str(spec)


# --- building torch optimizers -------------------------------------------------------------


@pytest.mark.parametrize("text", CANONICAL)
def test_builds_the_torch_class_with_the_settings_applied(text: str) -> None:
    spec = parse_optimizer(text)
    optimizer = build_optimizer(make_net(), text, lr=0.05)
    assert type(optimizer) is CLASSES[spec.name]
    assert optimizer.defaults["lr"] == 0.05
    for key, value in spec.settings:
        assert optimizer.defaults[key] == value, key
        if key != "weight_decay":  # exempt groups override it; see the group tests
            assert all(group[key] == value for group in optimizer.param_groups), key


def test_documented_examples_reach_torch() -> None:
    sgd = build_optimizer(make_net(), "sgd(momentum=0.9, nesterov=true, weight_decay=5e-4)", lr=0.1)
    assert (sgd.defaults["momentum"], sgd.defaults["nesterov"], sgd.defaults["weight_decay"]) == (
        0.9,
        True,
        5e-4,
    )
    rmsprop = build_optimizer(make_net(), "rmsprop(alpha=0.9, eps=1e-8)", lr=0.01)
    assert (rmsprop.defaults["alpha"], rmsprop.defaults["eps"]) == (0.9, 1e-8)
    adam = build_optimizer(make_net(), "adam(betas=[0.9, 0.999])", lr=1e-3)
    assert adam.defaults["betas"] == (0.9, 0.999)
    adamw = build_optimizer(make_net(), "adamw()", lr=1e-3)
    assert adamw.defaults["weight_decay"] == 0.01  # torch's default when the spec leaves it out


@pytest.mark.parametrize("text", CANONICAL)
def test_a_training_step_changes_every_weight(text: str) -> None:
    model = make_net()
    optimizer = build_optimizer(model, text, lr=0.01)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(1)
    inputs, targets = (
        torch.randn(8, 1, 6, 6, generator=generator),
        torch.randint(0, 3, (8,), generator=generator),
    )
    loss = nn.functional.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.step()
    for name, param in model.named_parameters():
        assert not torch.equal(param, before[name]), name


def test_sgd_loss_goes_down_on_a_fixed_batch() -> None:
    model = make_net()
    optimizer = build_optimizer(model, "sgd(momentum=0.9)", lr=0.05)
    generator = torch.Generator().manual_seed(2)
    inputs, targets = (
        torch.randn(16, 1, 6, 6, generator=generator),
        torch.randint(0, 3, (16,), generator=generator),
    )
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --- parameter groups ----------------------------------------------------------------------

DECAYED = {"conv.weight", "head.weight", "header.weight"}
EXEMPT = {"conv.bias", "norm.weight", "norm.bias", "head.bias", "header.bias", "scale"}


def test_biases_norm_and_1d_params_are_exempt_from_decay_by_default() -> None:
    model = make_net()
    optimizer = build_optimizer(model, "sgd(weight_decay=0.1)", lr=0.1)
    groups = optimizer.param_groups
    # Groups come in the order of their first parameter: `scale` is the model's first.
    assert [names_in(g, model) for g in groups] == [EXEMPT, DECAYED]
    assert [g["weight_decay"] for g in groups] == [0.0, 0.1]
    assert all(set(g) == set(groups[0]) for g in groups)  # nothing but torch's own keys


def test_switching_exemption_off_puts_every_param_in_one_group() -> None:
    model = make_net()
    optimizer = build_optimizer(model, "adamw(weight_decay=0.1)", lr=0.1, decay_norm_and_bias=True)
    assert len(optimizer.param_groups) == 1
    assert names_in(optimizer.param_groups[0], model) == DECAYED | EXEMPT
    assert optimizer.param_groups[0]["weight_decay"] == 0.1


def test_exempt_params_really_do_not_decay() -> None:
    model = make_net()
    optimizer = build_optimizer(model, "sgd(weight_decay=0.5)", lr=0.1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    optimizer.step()
    for name, param in model.named_parameters():
        expected = before[name] * (1 - 0.1 * 0.5) if name in DECAYED else before[name]
        torch.testing.assert_close(param.detach(), expected, msg=name)


@pytest.mark.parametrize(
    "norm",
    [
        nn.LayerNorm([4, 4]),  # a 2-d weight: exempt because it is a norm layer
        nn.GroupNorm(2, 4),
        nn.InstanceNorm2d(4, affine=True),
        nn.BatchNorm1d(4),
        nn.SyncBatchNorm(4),
        *([nn.RMSNorm([4, 4])] if hasattr(nn, "RMSNorm") else []),  # torch >= 2.4
    ],
)
def test_every_kind_of_norm_layer_is_exempt(norm: nn.Module) -> None:
    model = nn.Sequential(nn.Linear(4, 4), norm)
    groups = param_groups(model, lr=1.0)
    assert names_in(groups[0], model) == {"0.weight"}
    assert names_in(groups[1], model) == {"0.bias"} | {f"1.{name}" for name, _ in norm.named_parameters()}


def test_a_bias_with_many_dims_is_exempt_by_name() -> None:
    model = nn.Module()
    model.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
    model.weight = nn.Parameter(torch.zeros(3, 3))
    groups = param_groups(model, lr=1.0)
    assert [names_in(g, model) for g in groups] == [{"bias"}, {"weight"}]
    assert groups[0]["weight_decay"] == 0.0 and "weight_decay" not in groups[1]


def test_lr_multipliers_scale_the_groups_by_name_prefix() -> None:
    model = make_net()
    optimizer = build_optimizer(model, "sgd(weight_decay=0.1)", lr=0.1, lr_multipliers={"head": 10.0})
    by_names = {frozenset(names_in(g, model)): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups}
    assert by_names == {
        frozenset({"conv.weight", "header.weight"}): (0.1, 0.1),
        frozenset({"conv.bias", "norm.weight", "norm.bias", "header.bias", "scale"}): (0.1, 0.0),
        frozenset({"head.weight"}): (pytest.approx(1.0), 0.1),
        frozenset({"head.bias"}): (pytest.approx(1.0), 0.0),
    }
    assert optimizer.defaults["lr"] == 0.1


def test_longest_prefix_wins_and_full_names_match() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Linear(2, 2))
    groups = param_groups(model, lr=1.0, lr_multipliers={"0": 0.5, "0.1": 2.0, "1.weight": 3.0})
    lrs = {name: g["lr"] for g in groups for name in names_in(g, model)}
    assert lrs == {
        "0.0.weight": 0.5,
        "0.0.bias": 0.5,
        "0.1.weight": 2.0,
        "0.1.bias": 2.0,
        "1.weight": 3.0,
        "1.bias": 1.0,
    }


def test_every_param_appears_exactly_once() -> None:
    model = make_net()
    model.tied = model.head  # the same module twice
    for decay in (False, True):
        groups = param_groups(model, lr=1.0, decay_norm_and_bias=decay, lr_multipliers={"norm": 2.0})
        ids = [id(p) for g in groups for p in g["params"]]
        assert sorted(ids) == sorted(id(p) for p in model.parameters())
        assert all(g["params"] for g in groups)


def test_plain_and_named_parameter_iterables_are_accepted() -> None:
    model = make_net()
    plain = build_optimizer(model.parameters(), "sgd(weight_decay=0.1)", lr=0.1)
    # Without names, only the "at most 1-d" rule applies: norm weights are 1-d anyway here.
    assert [len(g["params"]) for g in plain.param_groups] == [6, 3]
    named = build_optimizer(model.named_parameters(), "sgd()", lr=0.1, lr_multipliers={"head": 2.0})
    assert {g["lr"] for g in named.param_groups} == {0.1, 0.2}
    repeated = param_groups([model.scale, model.scale], lr=1.0)
    assert len(repeated) == 1 and len(repeated[0]["params"]) == 1


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adm()", "unknown optimizer 'adm'; did you mean 'adam'?"),
        ("sgd(momentun=0.9)", "did you mean 'momentum'? Known: dampening, foreach, maximize, momentum"),
        ("adam(alpha=0.9)", "unknown adam() parameter 'alpha'"),
        ("sgd(lr=0.1)", "lr is not part of an optimizer spec"),
        ("sgd(0.9)", "write sgd(momentum=…)"),
        ("sgd() >> adam()", "one call"),
        ("sgd(momentum=1)", "momentum must be a number in [0, 1), got momentum=1."),
        ("sgd(momentum=-0.1)", "momentum must be a number in [0, 1)"),
        ("sgd(momentum=true)", "momentum must be a number in [0, 1), got momentum=True."),
        ("sgd(momentum=cosine(steps=3))", "got momentum=cosine(…)."),
        ("sgd(momentum=1e999)", "momentum must be"),
        ("sgd(weight_decay=" + "9" * 400 + ")", "weight_decay must be a finite number >= 0"),
        ("sgd(dampening=2)", "dampening must be a number in [0, 1]"),
        ("sgd(nesterov=true)", "nesterov must be false unless momentum > 0 and dampening = 0"),
        ("sgd(momentum=0.9, dampening=0.1, nesterov=true)", "nesterov must be false unless"),
        ("sgd(nesterov=1)", "nesterov must be true or false, got nesterov=1."),
        ("rmsprop(alpha=1)", "alpha must be a number in (0, 1), got alpha=1."),
        ("rmsprop(alpha=0)", "alpha must be"),
        ("rmsprop(eps=0)", "eps must be a finite number > 0"),
        ("rmsprop(centered='yes')", "centered must be true or false"),
        ("adam(betas=[0.9, 1.0])", "betas must be a list of two numbers in [0, 1), got betas=[0.9, 1.0]."),
        ("adam(betas=0.9)", "betas must be a list of two numbers"),
        ("adam(betas=[0.9, 0.99, 0.999])", "betas must be"),
        ("adamw(weight_decay=-0.01)", "weight_decay must be a finite number >= 0"),
        ("adamw(foreach=2)", "foreach must be true or false or none"),
        ("adam(amsgrad=none)", "amsgrad must be true or false"),
        ("", "empty"),
        ("sgd(momentum=0.9", "column"),
    ],
)
def test_bad_specs_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(LrlabError) as error:
        parse_optimizer(text)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"lr": 0.0}, "lr must be a finite number > 0, got lr=0.0."),
        ({"lr": -1}, "lr must be"),
        ({"lr": float("nan")}, "lr must be"),
        ({"lr": float("inf")}, "lr must be"),
        ({"lr": True}, "lr must be"),
        ({"lr": "0.1"}, "lr must be"),
        (
            {"lr": 0.1, "lr_multipliers": {"haed": 2.0}},
            "unknown lr_multipliers prefix 'haed'; did you mean 'head'?",
        ),
        ({"lr": 0.1, "lr_multipliers": {"head": 0}}, "lr_multipliers['head'] must be a finite number > 0"),
        ({"lr": 0.1, "lr_multipliers": {"head.": 2.0}}, "lr_multipliers must be keyed by parameter-name"),
        ({"lr": 0.1, "lr_multipliers": {"": 2.0}}, "lr_multipliers must be keyed"),
        ({"lr": 0.1, "lr_multipliers": [("head", 2.0)]}, "lr_multipliers must be a mapping"),
    ],
)
def test_bad_build_arguments_name_the_parameter(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(LrlabError) as error:
        build_optimizer(make_net(), "sgd()", **kwargs)  # type: ignore[arg-type]
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (nn.ReLU(), "model_or_params must be non-empty"),
        ([], "model_or_params must be non-empty"),
        (3, "model_or_params must be a module or an iterable"),
        (torch.zeros(3, requires_grad=True), "model_or_params must be a module or an iterable"),
        ([torch.zeros(3, requires_grad=True) * 2], "model_or_params must be a module or an iterable of leaf"),
        ([{"params": []}], "model_or_params must be"),
        ("abc", "model_or_params must be"),
    ],
)
def test_bad_parameters_are_refused_before_torch_sees_them(params: object, expected: str) -> None:
    with pytest.raises(LrlabError) as error:
        build_optimizer(params, "adam()", lr=0.1)  # type: ignore[arg-type]
    assert expected in str(error.value)


def test_multipliers_need_names() -> None:
    with pytest.raises(LrlabError, match="lr_multipliers must be empty for unnamed parameters"):
        build_optimizer(make_net().parameters(), "sgd()", lr=0.1, lr_multipliers={"head": 2.0})


def test_spec_objects_are_validated_too() -> None:
    with pytest.raises(LrlabError, match="unknown optimizer 'adm'"):
        OptimizerSpec("adm")
    with pytest.raises(LrlabError, match="momentum must be"):
        OptimizerSpec("sgd", (("momentum", 2.0),))
    with pytest.raises(LrlabError, match="each setting may appear once"):
        OptimizerSpec("sgd", (("momentum", 0.5), ("momentum", 0.9)))


# --- fuzzing -------------------------------------------------------------------------------

ALL_KEYS = sorted({key for keys in KEYS.values() for key in keys} | {"lr", "fused", "momentun"})
literals = st.one_of(
    st.integers(-3, 3).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "none", "'x'", "1e999", "-0.0", "9" * 400, "cosine(steps=3)"]),
)
values = st.recursive(literals, lambda inner: st.lists(inner, max_size=3).map(lambda v: f"[{', '.join(v)}]"))


@st.composite
def spec_like(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([*KEYS, "adm", "SGD"]))
    pairs = draw(st.dictionaries(st.sampled_from(ALL_KEYS), values, max_size=4))
    return f"{name}({', '.join(f'{key}={value}' for key, value in pairs.items())})"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=60), spec_like()))
def test_any_text_gives_a_spec_or_an_lrlab_error(text: str) -> None:
    try:
        spec = parse_optimizer(text)
    except LrlabError:
        return
    assert isinstance(spec, OptimizerSpec)
    assert parse_optimizer(str(spec)) == spec


@settings(max_examples=100, deadline=None)
@given(
    text=spec_like(), lr=st.one_of(st.floats(1e-30, 1e30), st.floats(max_value=0.0), st.just(float("nan")))
)
def test_anything_that_parses_builds_and_steps_without_a_torch_error(text: str, lr: float) -> None:
    # lr stays within float32 range: beyond it, torch fails at step time on float32 weights.
    model = nn.Linear(2, 1)
    try:
        optimizer = build_optimizer(model, text, lr=lr)
    except LrlabError:
        return
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
