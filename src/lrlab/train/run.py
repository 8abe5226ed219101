"""``train``: one experiment → one run directory, through the same :func:`~lrlab.train.fit`.

The run directory is ``<out>/<experiment name>/<run name>`` (``out``: ``runs/train``, see
:mod:`lrlab.namespaces`). The run name is
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

import hashlib
import json
import platform
import re
import sys
import warnings
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
from lrlab.data import Data
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.namespaces import TRAIN_OUT
from lrlab.scaling import LrScaling, resolve
from lrlab.task import Task
from lrlab.threads import workload_threads
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import BEST, CHECKPOINT
from lrlab.train.feed import steps_per_epoch, test_scores
from lrlab.train.horizon import ScheduleHorizonWarning, horizon_warning
from lrlab.train.identity import Identity, run_identity, stale_reason
from lrlab.train.logging import METRICS, write_text_atomic
from lrlab.train.loop import FitResult, fit, resolve_device
from lrlab.train.monitor import Monitor
from lrlab.train.rundir import check_config
from lrlab.train.setup import (
    build_callbacks,
    build_model_and_optimizer,
    fit_config,
    load_task,
)

# keys added after runs were named: left out of a run's identity while unset, so runs that do
# not use them keep their names (and --resume finds them)
UNSET_KEEPS_NAME = (("task", "plugin"), ("train", "steps"))
CONFIG = "config.json"
SUMMARY = "summary.json"
@dataclass(frozen=True)
class RunResult:
    """What ``train`` produced: the run directory, the fit, and the contents of ``summary.json``."""

    run_dir: Path
    fit: FitResult
    summary: dict[str, Any]
    retrained: str | None = None  # why a finished or started run in run_dir was stale, if it was

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
        exclude={
            "name": True,
            "task": {"data_dir", "plugin_dir"},
            "seeds": True,
            "variant": True,
            "search": True,
        },
    )
    for table, key in UNSET_KEEPS_NAME:
        if identity[table][key] is None:
            del identity[table][key]
    if sources := run_identity(experiment)["plugins"]:
        identity["plugin_sources"] = sources
    if world_size > 1:
        identity["world_size"] = world_size
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    model = re.split(r"[(]", experiment.task.plugin or experiment.task.model)[0].rpartition(":")[2]
    optimizer = experiment.optimizer.name.partition("(")[0]
    processes = f"-x{world_size}" if world_size > 1 else ""
    words = f"{model}-{optimizer}-lr{experiment.optimizer.lr:g}{processes}-seed{experiment.train.seed}"
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', words)}-{digest}"


def run_directory(experiment: Experiment, out: str | Path = TRAIN_OUT, world_size: int = 1) -> Path:
    """``<out>/<experiment name>/<run name>``."""
    return Path(out).expanduser() / experiment.name / run_name(experiment, world_size)


def train(
    experiment: Experiment,
    *,
    out: str | Path = TRAIN_OUT,
    resume: bool = False,
    quiet: bool = False,
    run_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train ``experiment`` into its run directory under ``out`` (or exactly ``run_dir``, as
    ``lrlab compare`` places its runs); with ``resume``, continue the run there exactly from its
    last checkpoint (or start it when there is none yet). ``callbacks`` join the experiment's.

    Raises:
        LrlabError: bad settings, or a directory that already holds a run and no ``resume``.
    """
    device = resolve_device(experiment.train.device)
    world = distributed.start(device)
    device = distributed.device_for(world, device)
    folder = run_directory(experiment, out, world.size) if run_dir is None else Path(run_dir).expanduser()
    identity = run_identity(experiment)
    resuming, stale = world.on_main(lambda: _claim(folder, resume, identity))
    task = load_task(experiment)
    updates = steps_per_epoch(task, experiment.train.batch_size, world)
    scaling = lr_scaling(experiment, world, updates)
    if world.main and (note := horizon_warning(experiment, updates)) is not None:
        warnings.warn(note, ScheduleHorizonWarning, stacklevel=2)  # the CLI prints it as one line
    model, optimizer, frozen = build_model_and_optimizer(experiment, task, lr=scaling.lr)
    if world.main and not (resuming and (folder / CONFIG).exists()):
        record = _config_record(
            experiment, folder, device=device, task=task, model=model, frozen=frozen, identity=identity
        )
        record |= {"distributed": _world_record(world, experiment), "lr_scaling": scaling.record()}
        write_text_atomic(folder / CONFIG, json.dumps(record, indent=2) + "\n")
    if world.main and not quiet and (world.parallel or scaling.factor != 1.0):
        print(f"lrlab: {world.size} process(es): {scaling.describe()}", file=sys.stderr)
    try:
        with workload_threads(model, device):  # a small model: one thread (lrlab.threads)
            result = fit(
                model,
                task,
                optimizer,
                experiment.schedule,
                config=fit_config(experiment, quiet=quiet, ramp=scaling.ramp()),
                callbacks=[*build_callbacks(experiment, folder), *callbacks],
                run_dir=folder,
                resume=resuming,
            )
            test = test_scores(model, task, experiment.train.eval_batch_size, device, world)
    except RuntimeError as error:
        if world.parallel and distributed.is_peer_failure(error):
            raise distributed.lost_peer(world, folder, error) from None
        raise
    summary = _summary(experiment, result, test)
    if world.main:
        write_text_atomic(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return RunResult(folder, result, summary, stale)


def lr_scaling(experiment: Experiment, world: World, steps_per_epoch: int) -> LrScaling:
    """The experiment's LR for ``world``'s global batch (see :mod:`lrlab.scaling`), for epochs of
    ``steps_per_epoch`` updates."""
    train = experiment.train
    return resolve(
        train.lr_scaling,
        lr=experiment.optimizer.lr,
        batch_size=train.batch_size,
        world_size=world.size,
        steps_per_epoch=steps_per_epoch,
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


def _claim(folder: Path, resume: bool, identity: Identity) -> tuple[bool, str | None]:
    """Make sure ``folder`` may be written; return whether a started run is being resumed, and
    why the run the folder held was stale, if it was. A run made by other plug-in sources, data
    files or lrlab version is stale (:mod:`lrlab.train.identity`): it is trained again (its files
    go), with or without ``resume``. A damaged ``config.json`` is refused on ``resume`` first:
    nobody can tell whether such a run is stale."""
    if resume:
        check_config(folder)
    stale = stale_reason(folder, identity)
    if stale is not None:
        clear_run(folder)
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
    return resume and bool(started), stale  # the folder is made when config.json is written


def clear_run(folder: Path) -> None:
    """Remove a run's files from ``folder`` (to train it again from the start)."""
    for name in (SUMMARY, BEST, CHECKPOINT, METRICS, CONFIG):
        (folder / name).unlink(missing_ok=True)


def _config_record(
    experiment: Experiment,
    folder: Path,
    *,
    device: torch.device,
    task: Data | Task,
    model: nn.Module,
    frozen: list[str],
    identity: Identity,
) -> dict[str, Any]:
    return {
        "experiment": experiment.model_dump(mode="json"),
        "plugins": identity["plugins"],
        "data_files": identity["data_files"],
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
        "data": _data_record(task),
        "model": {
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "frozen": frozen,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _data_record(task: Data | Task) -> dict[str, Any]:
    if isinstance(task, Task):
        return {"name": task.name, "task": "plug-in", "steps_per_epoch": task.steps_per_epoch}
    sizes = {split: 0 if x is None else len(x) for split, x in (("train", task.x_train), ("val", task.x_val))}
    return {
        "name": task.name,
        "task": task.task,
        "num_classes": task.num_classes,
        "input_shape": list(task.input_shape),
        **sizes,
        "test": len(task.x_test),
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
    return {
        "status": result.stop.kind,
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
