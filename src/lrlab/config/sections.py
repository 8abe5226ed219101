"""The tables of an experiment file: ``[task]``, ``[train]``, ``[optimizer]``,
``[early_stopping]``, ``[plateau]``, ``[divergence]`` and ``[finetune]``.

Fields marked with a :class:`~lrlab.config.flags.Flag` are also command-line flags; their
``description`` is the flag's help.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from lrlab.config.flags import FIND_LR, FINE_TUNING, OPTIMIZATION, PARALLEL, TASK, TRAIN, TRAINING, Flag
from lrlab.config.messages import Constraint
from lrlab.errors import LrlabError, unknown

Mode = Literal["auto", "min", "max"]
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PLUGIN = re.compile(r"[A-Za-z_][\w.]*:")
_METRIC = re.compile(r"train_loss|val_[A-Za-z0-9_]+")


class Section(BaseModel):
    """Base of every table: unknown keys are errors, values keep their TOML types, frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _spec_name(text: str, kind: str) -> str:
    from lrlab.spec import Chain, parse_expression

    expression = parse_expression(text if "(" in text else f"{text}()")
    if isinstance(expression, Chain):
        raise LrlabError(f"a {kind} spec is one call, not a chain with '>>': {text!r}.")
    return expression.name


def _known(value: str, kind: str, names: Collection[str]) -> str:
    """``value`` when it is a plug-in or names one of ``names``; else "unknown … did you mean"."""
    if not _PLUGIN.match(value) and (name := _spec_name(value, kind)) not in names:
        raise unknown(kind, name, names)
    return value


def _metric(value: str) -> str:
    if not _METRIC.fullmatch(value):
        raise Constraint(
            "train_loss or a held-out metric val_<name> (val_loss, val_acc, val_mse, or a key of a "
            "task's evaluate)"
        )
    return value


Metric = Annotated[str, AfterValidator(_metric)]  # a task's evaluate may add its own val_<name>


class Task(Section):
    """``[task]``: what is learned. ``dataset`` and ``model`` are specs or
    ``pkg.module:function(key=value)`` plug-ins. ``plugin`` names a function that returns a whole
    :class:`lrlab.Task` (model factory, batches, optional loss and evaluation) instead; it takes
    its options, and ``batch_size=`` and ``seed=`` from ``[train]`` when it declares them.
    ``plugin_dir``: where plug-in modules are imported from besides the working directory
    (default: the experiment file's folder)."""

    dataset: Annotated[str, Flag(TASK, "SPEC", aliases=("--data",))] = Field(
        default="digits", description="digits, mnist, idx(…), pkg.module:function"
    )
    model: Annotated[str, Flag(TASK, "SPEC")] = Field(
        default="mlp", description="lenet, cifar-cnn, mlp(…), linear, pkg.module:function"
    )
    data_dir: Annotated[str | None, Flag(TASK, "DIR")] = Field(
        default=None, description="where downloaded datasets live"
    )
    val_fraction: Annotated[float, Flag(TASK, "F")] = Field(
        default=0.1, ge=0, lt=1, description="share of train held out"
    )
    augment: Annotated[str | None, Flag(TASK, "SPEC", commands=())] = None
    plugin: str | None = None
    plugin_dir: str | None = None

    @field_validator("plugin")
    @classmethod
    def _plugin(cls, value: str | None) -> str | None:
        from lrlab.plugins import parse_plugin

        if value is not None:
            parse_plugin(value, "task.plugin")
        return value

    @model_validator(mode="after")
    def _plugin_makes_the_data(self) -> Task:
        if self.plugin is None:
            return self
        defaults = Task()
        for key in ("dataset", "model", "val_fraction", "augment"):
            if getattr(self, key) != getattr(defaults, key):
                raise LrlabError(
                    f"task.{key} does not apply with task.plugin: the plug-in {self.plugin!r} makes "
                    f"the data and the model; remove task.{key} (or pass its value to the plug-in)."
                )
        return self

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        from lrlab.data import DATASETS
        from lrlab.data.text import TEXT

        return _known(value, "dataset", [*DATASETS, TEXT])

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        from lrlab.models import MODELS, check_model

        _known(value, "model", MODELS)
        check_model(value)
        return value

    @field_validator("augment")
    @classmethod
    def _augment(cls, value: str | None) -> str | None:
        from lrlab.data import parse_augment

        if value is not None:
            parse_augment(value)
        return value


class Train(Section):
    """``[train]``: the loop's settings. ``amp``: bf16 autocast when the device is CUDA.

    ``batch_size`` is per process; under ``torchrun`` the global batch is ``batch_size × world
    size``, and ``lr_scaling`` ("linear", "sqrt", "none") rescales the LR from the batch size
    ``reference_batch_size`` (default ``batch_size``: one process), with a per-step warmup over
    ``scaling_warmup_epochs`` when it grows (see :mod:`lrlab.scaling`). ``compile``: train
    through ``torch.compile``.
    """

    epochs: Annotated[int, Flag(OPTIMIZATION, "N")] = Field(default=10, ge=1)
    steps: Annotated[int | None, Flag(OPTIMIZATION, "N", renamed={FIND_LR: "--train-steps"})] = Field(
        default=None, ge=1, description="a budget in updates instead of epochs"
    )
    batch_size: Annotated[int, Flag(OPTIMIZATION, "N")] = Field(default=128, ge=1)
    seed: Annotated[int, Flag(OPTIMIZATION, "N")] = Field(default=0, ge=0, lt=2**63)
    device: Annotated[str, Flag(OPTIMIZATION, "DEV")] = Field(
        default="auto", description="auto (CUDA when present), cpu, cuda, cuda:N"
    )
    interval: Annotated[Literal["step", "epoch"], Flag(OPTIMIZATION, commands=TRAINING)] = Field(
        default="step", description="what the schedule's numbers count: updates (default) or epochs"
    )
    grad_clip: float | None = Field(default=None, gt=0)
    amp: bool = True
    eval_batch_size: int = Field(default=2048, ge=1)
    lr_scaling: Annotated[Literal["none", "linear", "sqrt"], Flag(PARALLEL, commands=(TRAIN,))] = Field(
        default="none",
        description="scale the LR with the global batch (linear for SGD, sqrt for adaptive methods)",
    )
    reference_batch_size: Annotated[int | None, Flag(PARALLEL, "N", commands=(TRAIN,))] = Field(
        default=None, ge=1, description="the batch size the LR was chosen for"
    )
    scaling_warmup_epochs: Annotated[float, Flag(PARALLEL, "E", commands=(TRAIN,))] = Field(
        default=5.0, ge=0, description="warmup when the LR is scaled up (default 5)"
    )
    compile: Annotated[bool, Flag(PARALLEL, commands=(TRAIN,))] = Field(
        default=False, description="train through torch.compile"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise Constraint("'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value


class Optimizer(Section):
    """``[optimizer]``: ``name`` is an optimizer spec (``"sgd(momentum=0.9)"``), ``lr`` the base
    LR, ``lr_multipliers`` maps parameter-name prefixes (``"head"``) to factors of ``lr``."""

    name: Annotated[str, Flag(OPTIMIZATION, "SPEC", key="optimizer")] = Field(
        default="sgd()", description='e.g. "sgd(momentum=0.9)", "adamw(weight_decay=0.01)"'
    )
    lr: Annotated[float, Flag(OPTIMIZATION, "LR")] = Field(
        default=0.1, gt=0, description="base learning rate"
    )
    decay_norm_and_bias: bool = False
    lr_multipliers: Annotated[
        dict[str, Annotated[float, Field(gt=0)]],
        Flag(OPTIMIZATION, "PREFIX=X", name="--lr-multiplier", form="PREFIX=FACTOR like head=10"),
    ] = Field(
        default_factory=dict,
        description="LR factor for parameters under a name prefix (repeatable), e.g. head=10",
    )

    @field_validator("lr")
    @classmethod
    def _lr(cls, value: float) -> float:
        return _float32_safe(value)

    @field_validator("lr_multipliers")
    @classmethod
    def _multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        for factor in value.values():
            _float32_safe(factor)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from lrlab.optim import parse_optimizer

        return str(parse_optimizer(value if "(" in value else f"{value}()"))


def _float32_safe(value: float) -> float:
    """LRs and their factors are capped (as the schedule's values are) so that products fit float32."""
    if value > 1e12:
        raise Constraint("at most 1e12 (larger values overflow float32 in torch)")
    return value


class EarlyStopping(Section):
    """``[early_stopping]``: stop after ``patience`` epochs without improvement of ``monitor``.
    ``monitor``/``mode`` also choose ``best.pt`` and the best metrics of ``summary.json``."""

    enabled: bool = False
    monitor: Annotated[Metric, Flag(OPTIMIZATION, "METRIC", commands=TRAINING)] = Field(
        default="val_loss", description="val_loss (default), val_acc, val_mse, train_loss"
    )
    mode: Mode = "auto"
    patience: Annotated[
        int, Flag(OPTIMIZATION, "PATIENCE", commands=TRAINING, key="early_stopping", switch=True)
    ] = Field(
        default=5,
        ge=0,
        description="stop after PATIENCE epochs without improvement (default: the file's, else 5)",
    )
    min_delta: float = Field(default=0.0, ge=0)
    baseline: float | None = None
    restore_best_weights: bool = True
    grace: int | None = Field(default=None, ge=0)


class Plateau(Section):
    """``[plateau]``: multiply the LR by ``factor`` when ``monitor`` stalls."""

    enabled: bool = False
    monitor: Metric = "val_loss"
    mode: Mode = "auto"
    factor: float = Field(default=0.1, gt=0, lt=1)
    patience: int = Field(default=10, ge=0)
    min_delta: float = Field(default=1e-4, ge=0)
    cooldown: int = Field(default=0, ge=0)
    min_scale: float = Field(default=0.0, ge=0, le=1)
    grace: int | None = Field(default=None, ge=0)


class Divergence(Section):
    """``[divergence]``: on a non-finite or exploding loss, go back an epoch and cut the LR."""

    enabled: bool = True
    threshold: float = Field(default=4.0, gt=1)
    cut: float = Field(default=0.5, gt=0, lt=1)
    retries: int = Field(default=3, ge=0)
    beta: float = Field(default=0.98, ge=0, lt=1)


class Finetune(Section):
    """``[finetune]``: start from saved weights; ``freeze`` patterns (fnmatch on parameter names,
    a bare prefix ``"0"`` matching ``0.weight``) keep parameters fixed."""

    init_from: Annotated[str | None, Flag(FINE_TUNING, "PATH")] = Field(
        default=None, description="start from these weights (a .pt state dict)"
    )
    freeze: Annotated[list[str], Flag(FINE_TUNING, "PATTERN")] = Field(
        default_factory=list, description="freeze parameters by name (repeatable)"
    )
