"""Checks of a comparison before anything trains: old run folders (finished ones, and folders
that hold other settings), each dataset, and each variant's model and optimizer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrlab.errors import LrlabError

if TYPE_CHECKING:
    from lrlab.compare import RunSpec
    from lrlab.config import Experiment


def finished_runs(specs: Iterable[RunSpec], directory: Path) -> dict[Path, dict[str, Any]]:
    """The summaries of finished runs by folder; refuse folders that hold other settings."""
    done: dict[Path, dict[str, Any]] = {}
    for spec in specs:
        folder = directory / spec.folder
        _check_settings(folder, spec.experiment)
        if (folder / "summary.json").is_file():
            done[spec.folder] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return done


def _check_settings(folder: Path, experiment: Experiment) -> None:
    try:
        recorded = json.loads((folder / "config.json").read_text(encoding="utf-8"))["experiment"]
    except FileNotFoundError:
        return
    except (ValueError, KeyError, TypeError):
        raise LrlabError(
            f"{folder / 'config.json'} is damaged; delete the folder {folder} to retrain it."
        ) from None
    expected = experiment.model_dump(mode="json")
    key = next(_differences(recorded, expected, ""), None)
    if key is not None:
        raise LrlabError(
            f"{folder} holds a run with other settings ({key}); delete it, or pass --out DIR or "
            "--name NAME to start a new comparison."
        )


def _differences(old: object, new: object, path: str) -> Iterator[str]:
    """Paths where ``old`` and ``new`` differ, as ``key: old → new`` (``task.data_dir`` ignored)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            if f"{path}{key}" != "task.data_dir":
                yield from _differences(old.get(key), new.get(key), f"{path}{key}.")
    elif old != new:
        yield f"{path.rstrip('.')}: {old!r} → {new!r}"


def check_runs_can_start(specs: Sequence[RunSpec]) -> None:
    """Load each distinct dataset once (downloading it when it can, as ``train`` would) and build
    each distinct model and optimizer, so that bad input fails before any training."""
    from lrlab.data import load_dataset

    shapes: dict[tuple[str, str | None], tuple[tuple[int, ...], int]] = {}
    checked: set[str] = set()
    for spec in specs:
        task = spec.experiment.task
        key = (task.dataset, task.data_dir)
        if key not in shapes:
            seed = spec.experiment.train.seed
            data = load_dataset(
                task.dataset, data_dir=task.data_dir, val_fraction=task.val_fraction, seed=seed
            )
            shapes[key] = (tuple(data.input_shape), data.output_size)
        experiment = spec.experiment
        setup = json.dumps(
            [key, task.model, experiment.finetune.model_dump(), experiment.optimizer.model_dump()],
            sort_keys=True,
        )
        if setup not in checked:
            checked.add(setup)
            _check_setup(spec, *shapes[key])


def _check_setup(spec: RunSpec, input_shape: tuple[int, ...], outputs: int) -> None:
    """Build the run's model (with its fine-tuning) and optimizer as ``train`` will."""
    from lrlab.models import build_model
    from lrlab.optim import build_optimizer
    from lrlab.train.run import freeze, load_weights

    task, finetune, optimizer = spec.experiment.task, spec.experiment.finetune, spec.experiment.optimizer
    try:
        model = build_model(task.model, input_shape, outputs)
        if finetune.init_from is not None:
            load_weights(model, Path(finetune.init_from).expanduser())
        frozen = freeze(model, finetune.freeze)
        params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        build_optimizer(
            params if frozen else model,
            optimizer.name,
            optimizer.lr,
            decay_norm_and_bias=optimizer.decay_norm_and_bias,
            lr_multipliers=optimizer.lr_multipliers,
        )
    except (LrlabError, RuntimeError) as error:  # torch says "size mismatch" etc. as RuntimeError
        raise LrlabError(f"variant {spec.variant!r}: {error}") from None
