"""From an experiment to what :func:`~lrlab.train.fit` needs: the task (a dataset, or a plug-in's
:class:`~lrlab.task.Task`), the model (fine-tuning applied) and optimizer, the loop's settings and
the callbacks — shared by ``lrlab train``, ``find-lr``, ``compare`` and ``tune``."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrlab.config import Experiment
from lrlab.data import Data, load_dataset
from lrlab.data.text import TEXT, TEXT_OPTIONS, text_task
from lrlab.errors import LrlabError
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.plugins import add_import_dir, call_plugin, is_plugin, source_digest
from lrlab.schedules import Schedule
from lrlab.task import Task
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import Checkpoint
from lrlab.train.divergence import DivergenceGuard
from lrlab.train.early_stopping import EarlyStopping
from lrlab.train.logging import MetricsCsv
from lrlab.train.loop import seed_everything
from lrlab.train.plateau import ReduceLROnPlateau
from lrlab.train.state import FitConfig


def load_data(experiment: Experiment) -> Data:
    """The experiment's dataset, with its validation split (seeded by ``train.seed``)."""
    task = experiment.task
    add_import_dir(task.plugin_dir)
    return load_dataset(
        task.dataset, data_dir=task.data_dir, val_fraction=task.val_fraction, seed=experiment.train.seed
    )


def load_task(experiment: Experiment) -> Data | Task:
    """What the experiment trains on: its ``task.plugin``'s :class:`~lrlab.task.Task` (called with
    its options, ``batch_size`` and ``seed``), else its dataset (:func:`load_data`)."""
    spec = experiment.task.plugin
    if spec is None:
        text = text_options(experiment.task.dataset)
        return load_data(experiment) if text is None else load_text(experiment, text)
    add_import_dir(experiment.task.plugin_dir)
    seed_everything(experiment.train.seed)  # a plug-in that shuffles or splits draws seeded numbers
    given = {"batch_size": experiment.train.batch_size, "seed": experiment.train.seed}
    task = call_plugin(spec, "task plug-in", given)
    if not isinstance(task, Task) or task.model is None:
        raise LrlabError(
            f"task plug-in {spec!r} must return lrlab.Task(model=<a function that builds the model>, "
            f"train=<batches>, …), got {_shown(task)}."
        )
    return task


def text_options(spec: str) -> dict[str, Any] | None:
    """The options of a ``text(…)`` dataset spec (``None``: another dataset)."""
    from lrlab.spec import Chain, parse_expression

    if not spec.strip().startswith(f"{TEXT}("):
        return None
    call = parse_expression(spec)
    if isinstance(call, Chain) or call.args:
        raise LrlabError(
            f"text options are keyword-only, like text(path='input.txt', context=64), got {spec!r}."
        )
    options = dict(call.kwargs)
    extra = sorted(set(options) - set(TEXT_OPTIONS))
    if extra or "path" not in options:
        problem = f"has no option {extra[0]!r}" if extra else "needs path='file.txt'"
        raise LrlabError(f"text {problem}; valid options: {', '.join(TEXT_OPTIONS)}.")
    return options


def load_text(experiment: Experiment, options: dict[str, Any]) -> Task:
    """A ``text(…)`` dataset: the corpus task, batched and seeded by ``[train]``."""
    train = experiment.train
    fraction = options.pop("val_fraction", experiment.task.val_fraction)
    return text_task(
        **options,
        val_fraction=fraction,
        batch_size=train.batch_size,
        seed=train.seed,
        eval_batch_size=train.eval_batch_size,
    )


def _shown(value: object) -> str:
    if isinstance(value, Task):
        return "a Task without model=…"
    return type(value).__name__


def plugin_sources(experiment: Experiment) -> dict[str, str]:
    """``{plug-in spec: digest of its module's source}`` for every plug-in the experiment names
    (part of a run's identity: an edited plug-in must not reuse old results)."""
    task = experiment.task
    add_import_dir(task.plugin_dir)
    named = [("task plug-in", task.plugin), ("model plug-in", task.model), ("dataset plug-in", task.dataset)]
    return {spec: source_digest(spec, kind) for kind, spec in named if spec is not None and is_plugin(spec)}


def build_model_and_optimizer(
    experiment: Experiment, task: Data | Task, lr: float | None = None
) -> tuple[nn.Module, torch.optim.Optimizer, list[str]]:
    """The experiment's model (initialized with ``train.seed``, fine-tuning applied), its
    optimizer (base LR ``lr``, default ``optimizer.lr``) and the names of the frozen parameters."""
    seed_everything(experiment.train.seed)
    model = build_task_model(experiment, task)
    frozen = _prepare_model(model, experiment)
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    optimizer = build_optimizer(
        trainable if frozen else model,
        experiment.optimizer.name,
        experiment.optimizer.lr if lr is None else lr,
        decay_norm_and_bias=experiment.optimizer.decay_norm_and_bias,
        lr_multipliers=experiment.optimizer.lr_multipliers,
    )
    return model, optimizer, frozen


def build_task_model(experiment: Experiment, task: Data | Task) -> nn.Module:
    """A fresh model: the plug-in task's factory, or ``task.model`` for the dataset's shapes."""
    if isinstance(task, Data):
        return build_model(experiment.task.model, task.input_shape, task.output_size)
    factory = task.model
    if factory is None and task.input_shape is not None and task.num_outputs is not None:
        return build_model(experiment.task.model, task.input_shape, task.num_outputs)
    if factory is None:
        raise LrlabError(f"task plug-in {experiment.task.plugin!r} gave no model=… to build the model.")
    try:
        model = factory()
    except LrlabError:
        raise
    except Exception as error:
        raise LrlabError(f"task plug-in {experiment.task.plugin!r}: its model() raised {error!r}") from error
    if not isinstance(model, nn.Module):
        raise LrlabError(
            f"task plug-in {experiment.task.plugin!r}: model() must return a torch.nn.Module, "
            f"got {type(model).__name__}."
        )
    return model


def _prepare_model(model: nn.Module, experiment: Experiment) -> list[str]:
    """Load ``finetune.init_from`` and freeze ``finetune.freeze``; return the frozen names."""
    if experiment.finetune.init_from is not None:
        load_weights(model, Path(experiment.finetune.init_from).expanduser())
    return freeze(model, experiment.finetune.freeze)


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a state dict (or ``checkpoint.pt``/``best.pt``, whose ``model`` entry is one) into
    ``model`` with ``weights_only=True``; every key and shape must match."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LrlabError(f"finetune.init_from: no file {str(path)!r}.") from None
    except Exception as error:  # a foreign or torn file: say which one
        raise LrlabError(f"finetune.init_from: cannot read weights from {path}: {error}") from None
    state = saved.get("model", saved) if isinstance(saved, Mapping) else saved
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LrlabError(f"finetune.init_from: {path} holds no state dict of tensors.")
    own = model.state_dict()
    problems = [f"missing {key}" for key in own if key not in state]
    problems += [f"unexpected {key}" for key in state if key not in own]
    problems += [
        f"{key} is {tuple(state[key].shape)}, the model's {tuple(own[key].shape)}"
        for key in own
        if key in state and state[key].shape != own[key].shape
    ]
    if problems:
        shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        raise LrlabError(f"finetune.init_from: the weights in {path} do not fit the model: {shown}.")
    model.load_state_dict(state)


def freeze(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Turn off gradients of the parameters whose names match a pattern (fnmatch, or a prefix:
    ``"0"`` matches ``0.weight``); return their names. Each pattern must match something."""
    names = [name for name, _ in model.named_parameters()]
    frozen: set[str] = set()
    for pattern in patterns:
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern) or n.startswith(pattern + ".")]
        if not matched:
            shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
            raise LrlabError(
                f"finetune.freeze pattern {pattern!r} matches no parameter; the parameters are {shown}."
            )
        frozen.update(matched)
    if names and len(frozen) == len(names):
        raise LrlabError("finetune.freeze froze every parameter; leave at least one trainable.")
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
    return [name for name in names if name in frozen]


def fit_config(experiment: Experiment, *, quiet: bool = True, ramp: Schedule | None = None) -> FitConfig:
    """The loop's settings from an experiment (``ramp``: the large-batch warmup, if any)."""
    train = experiment.train
    return FitConfig(
        epochs=train.epochs,
        batch_size=train.batch_size,
        seed=train.seed,
        device=train.device,
        interval=train.interval,
        grad_clip=train.grad_clip,
        amp=train.amp,
        eval_batch_size=train.eval_batch_size,
        augment=experiment.task.augment,
        quiet=quiet,
        ramp=ramp,
        compile=train.compile,
        steps=train.steps,
    )


def build_callbacks(experiment: Experiment, folder: Path) -> list[Callback]:
    """The callbacks an experiment asks for, plus the CSV log and the checkpoints."""
    stopping, plateau, divergence = experiment.early_stopping, experiment.plateau, experiment.divergence
    callbacks: list[Callback] = [
        MetricsCsv(folder),
        Checkpoint(folder, monitor=stopping.monitor, mode=stopping.mode),
    ]
    if divergence.enabled:
        settings = divergence.model_dump(exclude={"enabled"})
        callbacks.append(DivergenceGuard(**settings))
    if plateau.enabled:
        callbacks.append(
            ReduceLROnPlateau(plateau.monitor, **plateau.model_dump(exclude={"enabled", "monitor"}))
        )
    if stopping.enabled:
        settings = stopping.model_dump(exclude={"enabled", "monitor"})
        callbacks.append(EarlyStopping(stopping.monitor, **settings))
    return callbacks
