"""What ``lrlab train`` records of a run: ``config.json`` (before training: the resolved
experiment, what else decides its result, versions, device, data and model sizes) and
``summary.json`` (the core of :mod:`lrlab.record.summary`, plus the monitor and the weights the
test split was evaluated with)."""

from __future__ import annotations

import platform
from collections.abc import Mapping
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
from lrlab.record.summary import SummaryCore, best_row
from lrlab.scaling import LrScaling
from lrlab.task import Task
from lrlab.train.identity import Identity
from lrlab.train.loop import FitResult
from lrlab.train.monitor import Monitor


def config_record(
    experiment: Experiment,
    folder: Path,
    *,
    device: torch.device,
    task: Data | Task,
    model: nn.Module,
    frozen: list[str],
    identity: Identity,
) -> dict[str, Any]:
    """``config.json`` of a run in ``folder`` (without the world's and the LR scaling's parts,
    see :func:`parallel_record`)."""
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


def parallel_record(world: World, experiment: Experiment, scaling: LrScaling) -> dict[str, Any]:
    """``config.json``'s ``distributed`` (the processes and the global batch) and ``lr_scaling``."""
    distributed_part = {
        "world_size": world.size,
        "backend": distributed.backend(),
        "batch_size_per_process": experiment.train.batch_size,
        "global_batch_size": experiment.train.batch_size * world.size,
    }
    return {"distributed": distributed_part, "lr_scaling": scaling.record()}


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


def run_summary(experiment: Experiment, result: FitResult, test: Mapping[str, float]) -> dict[str, Any]:
    """``summary.json`` of a run: the core (the best row as ``best.pt`` holds it: any
    improvement counts), ``monitor`` and ``weights`` (``final``, or ``best (epoch N)`` when early
    stopping restored the best weights before the test)."""
    stopping = experiment.early_stopping
    monitor = Monitor(stopping.monitor, stopping.mode)
    best = best_row(result.history, monitor)
    weights = "final"
    if stopping.enabled and stopping.restore_best_weights:
        restorer = Monitor(stopping.monitor, stopping.mode, stopping.min_delta, stopping.baseline)
        kept = best_row(result.history, restorer)
        weights = f"best (epoch {int(kept['epoch'])})" if kept else weights
    core = SummaryCore.of_fit(result, best, {f"test_{key}": value for key, value in test.items()})
    return core.to_dict() | {
        "monitor": {"metric": stopping.monitor, "mode": monitor.mode},
        "weights": weights,
    }
