"""The range test's case suite: 18 trainings the suggestions are judged on, in two halves.

The **development** half (``dev``) is where the default's rule may be shaped; the **validation**
half (``val``) is only measured. Each case is a model, data, an optimizer spec, a batch size and
a budget (epochs, or updates for the language model), and a log grid of LRs in half decades
(the oracle: the best mean test score over the seeds). The cases span SGD (plain, momentum,
Nesterov), RMSprop, Adam and AdamW; batches of 16 to 512; an MLP, LeNet, a CNN with batch norm,
a character transformer and a fine-tuned LeNet (a body pretrained on the digits 0–4 of mnist-8k,
a new head for 5–9); classification, regression and language modelling; 1 to 10 epochs.

Scores: test accuracy (classification), test MSE (regression), validation loss in nats per
character (language modelling, the last 10 % of tinyshakespeare). Data files come from
``../shared/datasets/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch
from torch import nn

from lrlab.data import Data, load_dataset
from lrlab.data.text import text_task
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.task import Task
from lrlab.train import FitConfig, fit, seed_everything

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
MNIST = SHARED / "mnist-test"
CORPUS = SHARED / "tinyshakespeare" / "input.txt"
MNIST_8K = (
    f'idx(images="{MNIST}/t10k-images-idx3-ubyte.gz", labels="{MNIST}/t10k-labels-idx1-ubyte.gz", '
    "test_size=2000)"
)
REGRESSION = "synthetic-regression(n=2000, features=20, noise=0.5)"
CLASSES = "synthetic-classification(n=3000, features=4, classes=8)"
PRETRAINED = Path(__file__).resolve().parent / ".cache" / "lenet-mnist-0to4.pt"


def half_decades(low: float, high: float) -> tuple[float, ...]:
    """``10 ** (k / 2)`` for ``k / 2`` from ``low`` to ``high`` (decades)."""
    return tuple(float(f"{10 ** (k / 2):.4g}") for k in range(round(2 * low), round(2 * high) + 1))


@dataclass(frozen=True)
class Case:
    """One training the suggestions are judged on. ``model``: a model spec of lrlab, or
    ``bn-cnn`` / ``finetune`` (built here). ``steps``: a budget in updates (language model)."""

    name: str
    half: str
    dataset: str
    model: str
    optimizer: str
    batch_size: int
    epochs: int
    grid: tuple[float, ...]
    seeds: int = 5
    steps: int | None = None

    @property
    def metric(self) -> str:
        """``acc`` (higher is better), ``mse`` or ``loss`` (lower is better)."""
        if self.dataset.startswith("text"):
            return "loss"
        return "mse" if self.dataset.startswith("synthetic-regression") else "acc"

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "acc"

    def fit_config(self, seed: int, **changes: object) -> FitConfig:
        config = FitConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=seed,
            device="cpu",
            quiet=True,
            steps=self.steps,
        )
        return replace(config, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """The case in words: model, optimizer, batch and budget."""
        budget = f"{self.steps} updates" if self.steps else f"{self.epochs} epoch{'s' * (self.epochs > 1)}"
        return f"{self.model} / {self.optimizer}, batch {self.batch_size}, {budget}"


def lm(context: int, batch: int) -> str:
    return f"text(context={context}, batch={batch})"


CASES: tuple[Case, ...] = (
    # development half
    Case("lenet-sgdm", "dev", MNIST_8K, "lenet", "sgd(momentum=0.9)", 128, 3, half_decades(-3, 0)),
    Case("lenet-adam", "dev", MNIST_8K, "lenet", "adam()", 128, 3, half_decades(-4.5, -1)),
    Case("digits-sgd", "dev", "digits", "mlp", "sgd()", 128, 10, half_decades(-2, 1)),
    Case("digits-sgd-b16", "dev", "digits", "mlp", "sgd()", 16, 3, half_decades(-2.5, 0.5)),
    Case(
        "regression-sgdm",
        "dev",
        REGRESSION,
        "mlp(widths=[64])",
        "sgd(momentum=0.9)",
        64,
        5,
        half_decades(-4, -0.5),
    ),
    Case("bncnn-rmsprop", "dev", "digits", "bn-cnn", "rmsprop()", 32, 5, half_decades(-4.5, -1)),
    Case(
        "charlm-adamw",
        "dev",
        lm(32, 32),
        "char",
        "adamw(weight_decay=0.1)",
        32,
        1,
        half_decades(-4, -0.5),
        steps=300,
    ),
    Case("finetune-sgdm", "dev", MNIST_8K, "finetune", "sgd(momentum=0.9)", 64, 2, half_decades(-3.5, 0)),
    Case(
        "lenet-nesterov-b512",
        "dev",
        MNIST_8K,
        "lenet",
        "sgd(momentum=0.9, nesterov=true)",
        512,
        5,
        half_decades(-3, 0.5),
    ),
    # validation half
    Case("lenet-sgd-b16", "val", MNIST_8K, "lenet", "sgd()", 16, 1, half_decades(-3, 0.5)),
    Case(
        "digits-nesterov-b512",
        "val",
        "digits",
        "mlp",
        "sgd(momentum=0.9, nesterov=true)",
        512,
        10,
        half_decades(-2.5, 1),
    ),
    Case("bncnn-sgdm-mnist", "val", MNIST_8K, "bn-cnn", "sgd(momentum=0.9)", 64, 1, half_decades(-3, 0.5)),
    Case(
        "regression-adam-b16", "val", REGRESSION, "mlp(widths=[64])", "adam()", 16, 2, half_decades(-4.5, -1)
    ),
    Case("mlp-mnist-adamw-b256", "val", MNIST_8K, "mlp", "adamw()", 256, 5, half_decades(-4.5, -1)),
    Case("charlm-adam", "val", lm(64, 16), "char", "adam()", 16, 1, half_decades(-4, -0.5), steps=300),
    Case("finetune-adam", "val", MNIST_8K, "finetune", "adam()", 32, 2, half_decades(-5, -1.5)),
    Case("synthclass-rmsprop-b32", "val", CLASSES, "mlp", "rmsprop()", 32, 3, half_decades(-4.5, -1)),
    Case(
        "digits-bnmlp-sgdm-b16",
        "val",
        "digits",
        "mlp(batch_norm=true)",
        "sgd(momentum=0.9)",
        16,
        2,
        half_decades(-3, 0.5),
    ),
)
# measured once, after the default's rule was fixed, and never used to shape it
FRESH: tuple[Case, ...] = (
    Case("synth10-sgdm05-b64", "fresh", "synthetic-classification(n=4000, features=6, classes=10, seed=3)",
         "mlp(widths=[128])", "sgd(momentum=0.5)", 64, 4, half_decades(-3, 1)),
    Case("linear-digits-rmspropm", "fresh", "digits", "linear", "rmsprop(momentum=0.9)", 32, 5,
         half_decades(-5, -1)),
    Case("lenet-adamw-b64", "fresh", MNIST_8K, "lenet", "adamw(weight_decay=0.05)", 64, 2,
         half_decades(-4.5, -1)),
    Case("regression2-nesterov-b32", "fresh", "synthetic-regression(n=3000, features=10, noise=1.0, seed=5)",
         "mlp(widths=[128, 64])", "sgd(momentum=0.95, nesterov=true)", 32, 3, half_decades(-5, -1)),
    Case("bncnn-adam-b256", "fresh", "digits", "bn-cnn", "adam()", 256, 10, half_decades(-4.5, -0.5)),
)  # fmt: skip
BY_NAME = {case.name: case for case in (*CASES, *FRESH)}


def bn_cnn(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Two 3×3 convolutions with batch norm, average pooling to 4×4, a linear head."""
    channels = input_shape[0]
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * 16, num_outputs),
    )  # fmt: skip


def char_model(vocabulary: int, context: int) -> nn.Module:
    return build_model("char-transformer(layers=2, heads=2, width=64)", (context,), vocabulary)


@cache
def data_of(case_dataset: str) -> Data | Task:
    """The case's data (memoized per process); the fine-tuning cases get the digits 5–9."""
    if case_dataset.startswith("text"):
        context, batch = (int(part.split("=")[1]) for part in case_dataset[5:-1].split(", "))
        return text_task(str(CORPUS), context=context, batch_size=batch, steps_per_epoch=100, val_windows=256)
    return load_dataset(case_dataset)


def finetune_data(data: Data) -> Data:
    """The samples labelled 5–9, relabelled 0–4."""
    keep_train, keep_test = data.y_train >= 5, data.y_test >= 5
    return replace(
        data,
        name="mnist-8k digits 5-9",
        x_train=data.x_train[keep_train],
        y_train=data.y_train[keep_train] - 5,
        x_test=data.x_test[keep_test],
        y_test=data.y_test[keep_test] - 5,
        num_classes=5,
    )


def case_data(case: Case) -> Data | Task:
    data = data_of(case.dataset)
    return finetune_data(data) if case.model == "finetune" and isinstance(data, Data) else data  # type: ignore[arg-type]


def pretrained_body() -> dict[str, torch.Tensor]:
    """LeNet trained 2 epochs (Adam, 1e-3, seed 1234) on the digits 0–4 of mnist-8k, made once
    and kept in ``bench/.cache``."""
    if PRETRAINED.exists():
        return torch.load(PRETRAINED, weights_only=True)  # type: ignore[no-any-return]
    data = data_of(MNIST_8K)
    assert isinstance(data, Data)
    keep_train, keep_test = data.y_train < 5, data.y_test < 5
    first = replace(
        data, x_train=data.x_train[keep_train], y_train=data.y_train[keep_train],
        x_test=data.x_test[keep_test], y_test=data.y_test[keep_test], num_classes=5,
    )  # fmt: skip
    seed_everything(1234)
    model = build_model("lenet", first.input_shape, 5)
    fit(
        model,
        first,
        build_optimizer(model, "adam()", 1e-3),
        config=FitConfig(epochs=2, seed=1234, device="cpu", quiet=True),
    )
    PRETRAINED.parent.mkdir(exist_ok=True)
    state = model.state_dict()
    torch.save(state, PRETRAINED.with_suffix(".tmp"))
    PRETRAINED.with_suffix(".tmp").replace(PRETRAINED)
    return state


def build(case: Case, lr: float, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A fresh model (initialized with ``seed``) and its optimizer at ``lr``."""
    seed_everything(seed)
    data = case_data(case)
    if case.model == "char":
        assert isinstance(data, Task)
        model = char_model(data.num_outputs, data.input_shape[0])
    elif case.model == "bn-cnn":
        model = bn_cnn(data.input_shape, data.output_size)  # type: ignore[union-attr]
    elif case.model == "finetune":
        model = build_model("lenet", data.input_shape, 5)  # type: ignore[union-attr]
        body = {key: value for key, value in pretrained_body().items() if not key.startswith(_head(model))}
        model.load_state_dict(body, strict=False)
    else:
        model = build_model(case.model, data.input_shape, data.output_size)  # type: ignore[union-attr]
    return model, build_optimizer(model, case.optimizer, lr)


def _head(model: nn.Module) -> str:
    """The state-dict prefix of the model's last linear layer (the head a fine-tune replaces)."""
    last = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)][-1]
    return last + "."


def budget_steps(case: Case) -> int:
    """The updates of the case's training."""
    if case.steps:
        return case.steps
    data = case_data(case)
    assert isinstance(data, Data)
    return case.epochs * math.ceil(len(data.x_train) / case.batch_size)


def score(case: Case, lr: float, seed: int, schedule: str | None = None) -> float:
    """The case's test score after its budget at ``lr`` with ``seed``, the LR constant or following
    ``schedule`` (``nan`` when it diverged)."""
    data = case_data(case)
    model, optimizer = build(case, lr, seed)
    final = fit(model, data, optimizer, schedule, config=case.fit_config(seed)).final
    value = final.get(f"val_{case.metric}", math.nan)
    return float(value) if math.isfinite(value) else math.nan


def trivial(case: Case) -> float:
    """The score of a model that learned nothing: chance accuracy, the test targets' variance,
    the corpus's unigram entropy. A training that ends no better than this diverged."""
    data = case_data(case)
    if case.metric == "acc":
        assert isinstance(data, Data) and data.num_classes
        return 1.0 / data.num_classes
    if case.metric == "mse":
        assert isinstance(data, Data)
        return float(data.y_test.var())
    return 3.3  # nats: the character unigram entropy of tinyshakespeare is about 3.3


def diverged(case: Case, value: float) -> bool:
    """Whether a score is the end of a diverged training (non-finite, or no better than :func:`trivial`)."""
    if not math.isfinite(value):
        return True
    bound = trivial(case)
    return value <= 1.5 * bound if case.higher_is_better else value >= bound


def loss_module(case: Case) -> Callable[..., torch.Tensor]:
    return nn.MSELoss() if case.metric == "mse" else nn.CrossEntropyLoss()
