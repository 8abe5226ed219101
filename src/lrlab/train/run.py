"""``train``: one experiment → one run directory, through the same :func:`~lrlab.train.fit`.

The run directory is ``<out>/<experiment name>/<run name>`` (``out``: ``runs/train``, see
:mod:`lrlab.namespaces`). The run name is
``<model>-<optimizer>-lr<lr>-seed<seed>-<hash>``, where ``hash`` is the first 8 hex digits of the
SHA-256 of the resolved experiment (every key but ``name`` and ``task.data_dir``, as sorted JSON):
the same command and file give the same directory, which is how ``--resume`` finds it, and a
changed setting gives a new one. A directory that already holds a run is never overwritten.

Files: ``config.json`` (written before training: the resolved experiment, versions, device,
data shapes), ``metrics.csv``, ``checkpoint.pt``, ``best.pt`` (by ``early_stopping.monitor``),
and ``summary.json`` at the end (how the fit stopped, final, best and test metrics, steps, wall
time: :mod:`lrlab.train.run_record`, in the shape of :mod:`lrlab.record.summary`).
The test split is evaluated once, after the fit, on the weights the run ends with (the best
epoch's when early stopping restores them).

Under ``torchrun`` every process calls ``train``: rank 0 claims and writes the run directory
(its name says the number of processes), all train data-parallel, and ``config.json`` records
the world size, the global batch and the resolved LR scaling (:mod:`lrlab.scaling`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab import distributed
from lrlab.config import Experiment
from lrlab.distributed import World
from lrlab.errors import LrlabError
from lrlab.namespaces import TRAIN_OUT
from lrlab.record import write_json
from lrlab.record.files import CONFIG_JSON, RUN_FILES, SUMMARY_JSON, clear_run
from lrlab.scaling import LrScaling, resolve
from lrlab.threads import workload_threads
from lrlab.train.callbacks import Callback
from lrlab.train.feed import steps_per_epoch, test_scores
from lrlab.train.horizon import ScheduleHorizonWarning, horizon_warning
from lrlab.train.identity import Identity, run_identity, stale_reason
from lrlab.train.loop import FitResult, fit
from lrlab.train.run_record import config_record, parallel_record, run_summary
from lrlab.train.rundir import check_config
from lrlab.train.setup import (
    build_callbacks,
    build_model_and_optimizer,
    fit_config,
    load_task,
)
from lrlab.train.step import resolve_device

# keys added after runs were named: left out of a run's identity while unset, so runs that do
# not use them keep their names (and --resume finds them)
UNSET_KEEPS_NAME = (("task", "plugin"), ("train", "steps"))


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
        return self.fit.stop.kind

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
    if world.main and not (resuming and (folder / CONFIG_JSON).exists()):
        record = config_record(
            experiment, folder, device=device, task=task, model=model, frozen=frozen, identity=identity
        )
        write_json(folder / CONFIG_JSON, record | parallel_record(world, experiment, scaling))
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
    summary = run_summary(experiment, result, test)
    if world.main:
        write_json(folder / SUMMARY_JSON, summary)
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
    started = [name for name in RUN_FILES if (folder / name).exists()]
    if (folder / SUMMARY_JSON).exists():
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
