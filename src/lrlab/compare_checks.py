"""Checks of a comparison before anything trains: old run folders (finished ones, and folders
that hold other settings), each dataset, and each variant's model and optimizer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError
from lrlab.record.files import CONFIG_JSON, finished_summary, read_json

if TYPE_CHECKING:
    from lrlab.compare_runs import RunSpec
    from lrlab.config import Experiment
    from lrlab.data import Data
    from lrlab.task import Task


@dataclass(frozen=True)
class OldRuns:
    """What a comparison's run folders hold before it starts: the summaries of the finished runs
    it reuses, and the runs it trains again with the reason (made by other plug-in sources, data
    files or lrlab version, or, with ``force``, with other settings)."""

    reused: dict[Path, dict[str, Any]]
    stale: dict[Path, str]


def finished_runs(specs: Iterable[RunSpec], directory: Path, *, force: bool = False) -> OldRuns:
    """The comparison's old runs by folder; refuse folders that hold other settings unless
    ``force``."""
    from lrlab.train.identity import run_identity, stale_reason

    reused: dict[Path, dict[str, Any]] = {}
    stale: dict[Path, str] = {}
    for spec in specs:
        folder = directory / spec.folder
        reason = _check_settings(folder, spec.experiment, force) or stale_reason(
            folder, run_identity(spec.experiment)
        )
        if reason is not None:
            stale[spec.folder] = reason
        elif (summary := finished_summary(folder)) is not None:
            reused[spec.folder] = summary
    return OldRuns(reused, stale)


def _check_settings(folder: Path, experiment: Experiment, force: bool) -> str | None:
    """``None`` when ``folder`` holds no run or one with ``experiment``'s settings; with ``force``,
    the first difference; else an error."""
    if not (folder / CONFIG_JSON).is_file():
        return None
    try:
        recorded = read_json(folder / CONFIG_JSON)["experiment"]
    except (LrlabError, KeyError):
        if force:
            return "a damaged config.json"
        raise LrlabError(
            f"{folder / CONFIG_JSON} is damaged; delete the folder {folder} to retrain it, or pass --force."
        ) from None
    expected = experiment.model_dump(mode="json")
    key = next(_differences(recorded, expected, ""), None)
    if key is not None and not force:
        raise LrlabError(
            f"{folder} holds a run with other settings ({key}); pass --force to train it again, or "
            "--out DIR or --name NAME to start a new comparison."
        )
    return None if key is None else f"other settings ({key})"


def _differences(old: object, new: object, path: str) -> Iterator[str]:
    """Paths where ``old`` and ``new`` differ, as ``key: old → new`` (where data and plug-ins are
    found is ignored)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            if f"{path}{key}" not in ("task.data_dir", "task.plugin_dir"):
                yield from _differences(old.get(key), new.get(key), f"{path}{key}.")
    elif old != new:
        yield f"{path.rstrip('.')}: {old!r} → {new!r}"


def check_runs_can_start(specs: Sequence[RunSpec]) -> list[str]:
    """Load each distinct task once (downloading a dataset when it can, calling a task plug-in,
    as ``train`` would) and build each distinct model and optimizer, so that bad input fails
    before any training. Returns the variants' schedule-length warnings
    (:func:`~lrlab.train.horizon.horizon_warning`), one per variant at most."""
    from lrlab.distributed import World
    from lrlab.train.feed import steps_per_epoch
    from lrlab.train.horizon import horizon_warning
    from lrlab.train.setup import load_task

    notes: dict[str, str] = {}

    tasks: dict[str, Data | Task] = {}
    checked: set[str] = set()
    for spec in specs:
        experiment = spec.experiment
        key = json.dumps([experiment.task.model_dump(exclude={"model"}), _plugin_inputs(experiment)])
        if key not in tasks:
            try:
                tasks[key] = load_task(experiment)
            except LrlabError as error:
                raise LrlabError(f"variant {spec.variant!r}: {error}") from error  # --debug shows the cause
        setup = json.dumps(
            [key, experiment.task.model, experiment.finetune.model_dump(), experiment.optimizer.model_dump()],
            sort_keys=True,
        )
        if setup not in checked:
            checked.add(setup)
            _check_setup(spec, tasks[key])
        updates = steps_per_epoch(tasks[key], experiment.train.batch_size, World(0, 1))
        if spec.variant not in notes and (note := horizon_warning(experiment, updates)) is not None:
            notes[spec.variant] = f"variant {spec.variant!r}: {note}"
    return list(notes.values())


def _plugin_inputs(experiment: Experiment) -> list[int] | None:
    """What a task plug-in is called with besides its options."""
    train = experiment.train
    return [train.batch_size, train.seed] if experiment.task.plugin else None


def _check_setup(spec: RunSpec, task: Data | Task) -> None:
    """Build the run's model (with its fine-tuning) and optimizer as ``train`` will."""
    from lrlab.train.setup import build_model_and_optimizer

    try:
        build_model_and_optimizer(spec.experiment, task)
    except (LrlabError, RuntimeError) as error:  # torch says "size mismatch" etc. as RuntimeError
        raise LrlabError(f"variant {spec.variant!r}: {error}") from error  # --debug shows the cause
