"""Models of the learning-rate literature, built by name with shapes inferred from the data.

``build_model(spec, input_shape, num_outputs)`` where ``spec`` is ``lenet``, ``cifar-cnn``,
``mlp(widths=[256, 128], dropout=0.2, batch_norm=true)``, ``linear``, or a plug-in
``pkg.module:function`` or ``pkg.module:function(width=32)``, called with its options and with
``input_shape=…, num_outputs=…`` when it declares them.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from lrlab.errors import LrlabError, invalid, unknown
from lrlab.plugins import call_plugin, is_plugin
from lrlab.spec import Call, Chain, parse_expression

Shape = tuple[int, ...]


def _flat_size(features: nn.Module, input_shape: Shape) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, *input_shape)).numel())


MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, before gradients and optimizer state
_LEAST_SIDE = {"lenet": 12, "cifar-cnn": 10}  # the smallest image its convolutions and pools take


def _image_shape(name: str, input_shape: Shape) -> Shape:
    if len(input_shape) != 3:
        raise LrlabError(f"{name} needs images shaped (channels, height, width), got {input_shape}; use mlp.")
    least = _LEAST_SIDE[name]
    if min(input_shape[1:]) < least:
        raise LrlabError(
            f"{name} needs images of at least {least}x{least} pixels, got {input_shape[1]}x{input_shape[2]} "
            f"(inputs shaped {input_shape}); use mlp, or a dataset of larger images."
        )
    return input_shape


def _check_size(spec: str, parameters: int) -> None:
    """Refuse a model too large to allocate, before torch tries."""
    if parameters > MAX_PARAMETERS:
        raise LrlabError(
            f"{spec} would have {parameters:.3g} parameters ({parameters * 4 / 1e9:.3g} GB of float32), "
            f"more than lrlab builds ({MAX_PARAMETERS:.0e}); use smaller widths."
        )


def lenet(input_shape: Shape, num_outputs: int) -> nn.Module:
    """LeNet as in the Fashion-MNIST case study (400 flat features for 28×28 inputs)."""
    channels = _image_shape("lenet", input_shape)[0]
    features = nn.Sequential(
        nn.Conv2d(channels, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    )  # fmt: skip
    return nn.Sequential(
        *features,
        nn.Linear(_flat_size(features, input_shape), 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_outputs),
    )  # fmt: skip


def cifar_cnn(input_shape: Shape, num_outputs: int, dropout: float = 0.5) -> nn.Module:
    """Conv32 3×3 – pool – Conv64 3×3 – pool – Dense128 – Dropout – Dense (the small CIFAR CNN)."""
    channels = _image_shape("cifar-cnn", input_shape)[0]
    features = nn.Sequential(
        nn.Conv2d(channels, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    )  # fmt: skip
    return nn.Sequential(
        *features,
        nn.Linear(_flat_size(features, input_shape), 128), nn.ReLU(),
        nn.Dropout(_fraction("dropout", dropout)),
        nn.Linear(128, num_outputs),
    )  # fmt: skip


def mlp(
    input_shape: Shape,
    num_outputs: int,
    widths: Sequence[int] = (256, 128),
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Module:
    """Flatten, then ``Linear → [BatchNorm] → ReLU → [Dropout]`` per width, then the output layer."""
    _check_mlp(widths, dropout, batch_norm)
    sizes = [math.prod(input_shape), *widths, num_outputs]
    _check_size(f"mlp(widths={list(widths)})", _dense_parameters(sizes))
    layers: list[nn.Module] = [nn.Flatten()]
    size = sizes[0]
    for width in widths:
        layers.append(nn.Linear(size, width))
        layers.extend([nn.BatchNorm1d(width)] if batch_norm else [])
        layers.append(nn.ReLU())
        layers.extend([nn.Dropout(_fraction("dropout", dropout))] if dropout else [])
        size = width
    layers.append(nn.Linear(size, num_outputs))
    return nn.Sequential(*layers)


def linear(input_shape: Shape, num_outputs: int) -> nn.Module:
    """A single linear layer (linear regression, or logistic regression with a classifier loss)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention through ``scaled_dot_product_attention``."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = (
            part.view(batch, time, self.heads, width // self.heads).transpose(1, 2)
            for part in self.qkv(x).split(width, dim=2)
        )
        dropout = self.dropout if self.training else 0.0
        out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        merged: torch.Tensor = self.proj(out.transpose(1, 2).reshape(batch, time, width))
        return merged


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attention(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x)))
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class CharTransformer(nn.Module):
    """A small GPT over character ids ``(batch, time)`` → next-character scores ``(batch, time,
    vocabulary)``: token and position embeddings, pre-norm blocks, a final norm, and an output
    layer tied to the token embedding (GPT-2's initialization: normal, std 0.02)."""

    def __init__(
        self, vocabulary: int, context: int, *, layers: int, heads: int, width: int, dropout: float
    ) -> None:
        super().__init__()
        self.context = context
        self.tokens, self.positions = nn.Embedding(vocabulary, width), nn.Embedding(context, width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*(Block(width, heads, dropout) for _ in range(layers)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocabulary, bias=False)
        self.head.weight = self.tokens.weight
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        time = ids.shape[1]
        if time > self.context:
            raise LrlabError(
                f"char-transformer: windows of {time} characters exceed its context={self.context}."
            )
        positions = torch.arange(time, device=ids.device)
        x = self.dropout(self.tokens(ids) + self.positions(positions))
        out: torch.Tensor = self.head(self.norm(self.blocks(x)))
        return out


def char_transformer(
    input_shape: Shape,
    num_outputs: int,
    *,
    layers: int = 4,
    heads: int = 4,
    width: int = 128,
    context: int | None = None,
    dropout: float = 0.0,
) -> nn.Module:
    """A character transformer (:class:`CharTransformer`) for windows of ``input_shape[0]``
    characters and ``num_outputs`` character ids; ``context`` (default: the windows' length) is
    the longest window it accepts."""
    window = input_shape[0] if len(input_shape) == 1 else 0
    if not window:
        raise LrlabError(
            f"char-transformer reads windows of character ids, got inputs shaped {input_shape}; use text(…)."
        )
    for name, value in (("layers", layers), ("heads", heads), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(name, "an integer >= 1", value)
    if width % heads:
        raise invalid("width", f"a multiple of heads={heads}", width)
    context = window if context is None else context
    if isinstance(context, bool) or not isinstance(context, int) or context < window:
        raise invalid("context", f"an integer >= the windows' length {window}", context)
    per_block = 12 * width * width + 13 * width
    _check_size("char-transformer", layers * per_block + (num_outputs + context) * width)
    return CharTransformer(
        num_outputs, context, layers=layers, heads=heads, width=width, dropout=_fraction("dropout", dropout)
    )


MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet": lenet,
    "cifar-cnn": cifar_cnn,
    "mlp": mlp,
    "linear": linear,
    "char-transformer": char_transformer,
}


def _fraction(param: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise invalid(param, "a number in [0, 1)", value)
    return float(value)


def build_model(spec: str, input_shape: Shape, num_outputs: int) -> nn.Module:
    """Build the model ``spec`` names for inputs of ``input_shape`` and ``num_outputs`` outputs."""
    if is_plugin(spec):
        given = {"input_shape": input_shape, "num_outputs": num_outputs}
        model = call_plugin(spec, "model plug-in", given)
        if not isinstance(model, nn.Module):
            raise LrlabError(f"plug-in {spec!r} must return a torch.nn.Module, got {type(model).__name__}.")
        return model
    builder, options = _builder_and_options(spec)
    return builder(input_shape, num_outputs, **options)


def check_model(spec: str) -> None:
    """Check a built-in model spec's name and options before any data is loaded (a plug-in's are
    its own); what depends on the data's shape is checked when the model is built."""
    if is_plugin(spec):
        return
    builder, options = _builder_and_options(spec)
    if builder is mlp:
        widths = options.get("widths", (256, 128))
        _check_mlp(widths, options.get("dropout", 0.0), options.get("batch_norm", False))
        hidden = list(cast("Sequence[int]", widths))
        _check_size(f"mlp(widths={hidden})", _dense_parameters([1, *hidden, 1]))  # a lower bound
    elif "dropout" in options:
        _fraction("dropout", options["dropout"])


def _check_mlp(widths: object, dropout: object, batch_norm: object) -> None:
    positive = isinstance(widths, (list, tuple)) and all(
        not isinstance(width, bool) and isinstance(width, int) and width >= 1 for width in widths
    )
    if not positive:
        shown = list(widths) if isinstance(widths, (list, tuple)) else widths
        raise invalid("widths", "a list of positive integers like [256, 128]", shown)
    if not isinstance(batch_norm, bool):
        raise invalid("batch_norm", "true or false", batch_norm)
    _fraction("dropout", dropout)


def _dense_parameters(sizes: Sequence[int]) -> int:
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def _builder_and_options(spec: str) -> tuple[Callable[..., nn.Module], dict[str, object]]:
    call = _model_call(spec)
    builder = MODELS.get(call.name)
    if builder is None:
        raise unknown("model", call.name, MODELS)
    options = dict(call.kwargs)
    allowed = set(list(inspect.signature(builder).parameters)[2:])
    for key in options:
        if key not in allowed:
            raise unknown(f"{call.name} option", key, allowed or ["(none)"])
    if "widths" in options and isinstance(options["widths"], list):
        options["widths"] = tuple(options["widths"])
    return builder, options


def _model_call(spec: str) -> Call:
    text = spec if "(" in spec else f"{spec}()"
    expression = parse_expression(text)
    if isinstance(expression, Chain) or expression.args:
        raise LrlabError(f"a model is one name with keyword options, like 'mlp(widths=[64])', got {spec!r}.")
    return expression
