"""``train``: one experiment → one run directory, through the same :func:`~lrlab.train.fit`.

The run directory is ``<out>/<experiment name>/<run name>``. The run name is
``<model>-<optimizer>-lr<lr>-seed<seed>-<hash>``, where ``hash`` is the first 8 hex digits of the
SHA-256 of the resolved experiment (every key but ``name`` and ``task.data_dir``, as sorted JSON):
the same command and file give the same directory, which is how ``--resume`` finds it, and a
changed setting gives a new one. A directory that already holds a run is never overwritten.

Files: ``config.json`` (written before training: the resolved experiment, versions, device,
data shapes), ``metrics.csv``, ``checkpoint.pt``, ``best.pt`` (by ``early_stopping.monitor``),
and ``summary.json`` at the end (final, best and test metrics, stop reason, steps, wall time).
The test split is evaluated once, after the fit, on the weights the run ends with (the best
epoch's when early stopping restores them).

Under ``torchrun`` every process calls ``train``: rank 0 claims and writes the run directory
(its name says the number of processes), all train data-parallel, and ``config.json`` records
the world size, the global batch and the resolved LR scaling (:mod:`lrlab.scaling`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lrlab import __version__, distributed
from lrlab.config import Experiment
from lrlab.data import Data, load_dataset
from lrlab.data.batches import batch_count
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.scaling import LrScaling, resolve
from lrlab.schedules import Schedule
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import BEST, CHECKPOINT, Checkpoint
from lrlab.train.divergence import DivergenceGuard
from lrlab.train.early_stopping import EarlyStopping
from lrlab.train.logging import METRICS, MetricsCsv, write_text_atomic
from lrlab.train.loop import FitResult, evaluate, fit, resolve_device, seed_everything
from lrlab.train.monitor import Monitor
from lrlab.train.plateau import ReduceLROnPlateau
from lrlab.train.state import FitConfig

CONFIG = "config.json"
SUMMARY = "summary.json"
STATUSES = ("finished", "early-stopped", "diverged")


@dataclass(frozen=True)
class RunResult:
    """What ``train`` produced: the run directory, the fit, and the contents of ``summary.json``."""

    run_dir: Path
    fit: FitResult
    summary: dict[str, Any]

    @property
    def status(self) -> str:
        """``finished``, ``early-stopped`` or ``diverged``."""
        return str(self.summary["status"])

    @property
    def stop_reason(self) -> str:
        """Why the fit stopped, in words."""
        return self.fit.stop_reason


def run_name(experiment: Experiment, world_size: int = 1) -> str:
    """The run's folder name, a function of the resolved experiment and the number of
    processes (see the module docs)."""
    # seeds and variants belong to comparisons, which name their run folders themselves
    identity = experiment.model_dump(
        mode="json",
        exclude={"name": True, "task": {"data_dir"}, "seeds": True, "variant": True, "search": True},
    )
    if world_size > 1:
        identity["world_size"] = world_size
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    model = re.split(r"[(]", experiment.task.model)[0].rpartition(":")[2]
    optimizer = experiment.optimizer.name.partition("(")[0]
    processes = f"-x{world_size}" if world_size > 1 else ""
    words = f"{model}-{optimizer}-lr{experiment.optimizer.lr:g}{processes}-seed{experiment.train.seed}"
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', words)}-{digest}"


def run_directory(experiment: Experiment, out: str | Path = "runs", world_size: int = 1) -> Path:
    """``<out>/<experiment name>/<run name>``."""
    return Path(out).expanduser() / experiment.name / run_name(experiment, world_size)


def train(
    experiment: Experiment,
    *,
    out: str | Path = "runs",
    resume: bool = False,
    quiet: bool = False,
    run_dir: str | Path | None = None,
) -> RunResult:
    """Train ``experiment`` into its run directory under ``out`` (or exactly ``run_dir``, as
    ``lrlab compare`` places its runs); with ``resume``, continue the run there exactly from its
    last checkpoint (or start it when there is none yet).

    Raises:
        LrlabError: bad settings, or a directory that already holds a run and no ``resume``.
    """
    device = resolve_device(experiment.train.device)
    world = distributed.start(device)
    device = distributed.device_for(world, device)
    folder = run_directory(experiment, out, world.size) if run_dir is None else Path(run_dir).expanduser()
    resuming = world.on_main(lambda: _claim(folder, resume))
    data = load_data(experiment)
    scaling = lr_scaling(experiment, world, len(data.x_train))
    model, optimizer, frozen = build_model_and_optimizer(experiment, data, lr=scaling.lr)
    if world.main and not (resuming and (folder / CONFIG).exists()):
        record = _config_record(experiment, folder, device=device, data=data, model=model, frozen=frozen)
        record |= {"distributed": _world_record(world, experiment), "lr_scaling": scaling.record()}
        write_text_atomic(folder / CONFIG, json.dumps(record, indent=2) + "\n")
    if world.main and not quiet and (world.parallel or scaling.factor != 1.0):
        print(f"lrlab: {world.size} process(es): {scaling.describe()}", file=sys.stderr)
    try:
        result = fit(
            model,
            data,
            optimizer,
            experiment.schedule,
            config=fit_config(experiment, quiet=quiet, ramp=scaling.ramp()),
            callbacks=build_callbacks(experiment, folder),
            run_dir=folder,
            resume=resuming,
        )
        x_test, y_test = data.x_test.to(device), data.y_test.to(device)
        test = evaluate(model, x_test, y_test, data, experiment.train.eval_batch_size, world=world)
    except RuntimeError as error:
        if world.parallel and distributed.is_peer_failure(error):
            raise distributed.lost_peer(world, folder, error) from None
        raise
    summary = _summary(experiment, result, test)
    if world.main:
        write_text_atomic(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return RunResult(folder, result, summary)


def lr_scaling(experiment: Experiment, world: World, train_size: int) -> LrScaling:
    """The experiment's LR for ``world``'s global batch (see :mod:`lrlab.scaling`)."""
    train = experiment.train
    return resolve(
        train.lr_scaling,
        lr=experiment.optimizer.lr,
        batch_size=train.batch_size,
        world_size=world.size,
        steps_per_epoch=batch_count(train_size, train.batch_size, world.size),
        epochs=train.epochs,
        reference=train.reference_batch_size,
        warmup_epochs=train.scaling_warmup_epochs,
    )


def _world_record(world: World, experiment: Experiment) -> dict[str, Any]:
    return {
        "world_size": world.size,
        "backend": distributed.backend(),
        "batch_size_per_process": experiment.train.batch_size,
        "global_batch_size": experiment.train.batch_size * world.size,
    }


def _claim(folder: Path, resume: bool) -> bool:
    """Make sure ``folder`` may be written; return whether a started run is being resumed."""
    started = [name for name in (CONFIG, METRICS, CHECKPOINT, BEST, SUMMARY) if (folder / name).exists()]
    if (folder / SUMMARY).exists():
        fix = "; nothing is left to resume" if resume else ""
        raise LrlabError(
            f"run directory {folder} already holds a finished run (summary.json){fix}. "
            "Pass --out DIR (or another experiment name) to train a new run."
        )
    if started and not resume:
        raise LrlabError(
            f"run directory {folder} already holds a started run ({', '.join(started)}). "
            "Pass --resume to continue it, or --out DIR to start a new run elsewhere."
        )
    return resume and bool(started)  # the folder is made when config.json is written


def load_data(experiment: Experiment) -> Data:
    """The experiment's dataset, with its validation split (seeded by ``train.seed``)."""
    task = experiment.task
    return load_dataset(
        task.dataset, data_dir=task.data_dir, val_fraction=task.val_fraction, seed=experiment.train.seed
    )


def build_model_and_optimizer(
    experiment: Experiment, data: Data, lr: float | None = None
) -> tuple[nn.Module, torch.optim.Optimizer, list[str]]:
    """The experiment's model (initialized with ``train.seed``, fine-tuning applied), its
    optimizer (base LR ``lr``, default ``optimizer.lr``) and the names of the frozen parameters."""
    seed_everything(experiment.train.seed)
    model = build_model(experiment.task.model, data.input_shape, data.output_size)
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


def _config_record(
    experiment: Experiment,
    folder: Path,
    *,
    device: torch.device,
    data: Data,
    model: nn.Module,
    frozen: list[str],
) -> dict[str, Any]:
    sizes = {split: 0 if x is None else len(x) for split, x in (("train", data.x_train), ("val", data.x_val))}
    return {
        "experiment": experiment.model_dump(mode="json"),
        "run": {"name": folder.name, "dir": str(folder)},
        "versions": {
            "lrlab": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "device": str(device),
        "amp": "bf16" if experiment.train.amp and device.type == "cuda" else None,
        "seed": experiment.train.seed,
        "data": {
            "name": data.name,
            "task": data.task,
            "num_classes": data.num_classes,
            "input_shape": list(data.input_shape),
            **sizes,
            "test": len(data.x_test),
        },
        "model": {
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "frozen": frozen,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _best_row(history: Sequence[Mapping[str, float]], monitor: Monitor) -> dict[str, float]:
    best: dict[str, float] = {}
    for row in history:
        if monitor.metric in row and monitor.update(row[monitor.metric], int(row["epoch"])):
            best = dict(row)
    return best


def _summary(experiment: Experiment, result: FitResult, test: Mapping[str, float]) -> dict[str, Any]:
    stopping = experiment.early_stopping
    monitor = Monitor(stopping.monitor, stopping.mode)  # as best.pt: any improvement counts
    best = _best_row(result.history, monitor)
    weights = "final"
    if stopping.enabled and stopping.restore_best_weights:
        restorer = Monitor(stopping.monitor, stopping.mode, stopping.min_delta, stopping.baseline)
        kept = _best_row(result.history, restorer)
        weights = f"best (epoch {int(kept['epoch'])})" if kept else weights
    status = next((word for word in STATUSES if result.stop_reason.startswith(word)), "stopped")
    return {
        "status": status,
        "stop_reason": result.stop_reason,
        "epochs": len(result.history),
        "steps": result.steps,
        "monitor": {"metric": stopping.monitor, "mode": monitor.mode},
        "best": best,
        "final": result.final,
        "test": {f"test_{key}": value for key, value in test.items()},
        "weights": weights,
        "wall_time_s": result.seconds,
        "train_time_s": sum(row.get("time_s", 0.0) for row in result.history),
    }
