"""Comparison directories → run records: each run's files read back, checked, as data.

A comparison directory, as ``lrlab compare`` writes it::

    <dir>/experiment.toml          the resolved experiment, with its [[variant]] tables
    <dir>/runs/<variant>/seed<k>/  one run directory per variant and seed (config.json,
                                   metrics.csv, summary.json: :mod:`lrlab.record`)
    <dir>/summary.csv              one row per variant (:mod:`lrlab.report.records`)

:func:`load_runs` reads every run into a :class:`RunRecord`. A missing or damaged file is an
:class:`~lrlab.errors.LrlabError` that names it.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab.errors import LrlabError
from lrlab.record.files import (
    COMPARISON_RUNS,
    CONFIG_JSON,
    EXPERIMENT_TOML,
    METRICS_CSV,
    SUMMARY_JSON,
    dig,
    read_json,
    read_text,
    shown,
)
from lrlab.record.metrics import MAX_EPOCHS, read_metrics

_SEED_DIR = re.compile(r"seed(\d+)")
MAX_STEPS_PER_EPOCH = 10**9


@dataclass(frozen=True)
class RunRecord:
    """One run directory of a comparison, as read from its files.

    ``metrics`` holds metrics.csv's rows (one per finished epoch); ``epochs`` is the number of
    epochs the run was set to train (``train.epochs``), which early stopping may cut short;
    ``steps_per_epoch`` comes from metrics.csv or summary.json, else from the data size and
    batch size in config.json (``None`` when none of them records it).
    """

    variant: str
    seed: int
    path: Path
    metrics: tuple[Mapping[str, float], ...]
    summary: Mapping[str, Any]
    config: Mapping[str, Any]
    schedule: str
    interval: str
    epochs: int
    steps_per_epoch: int | None
    lr: float

    def column(self, name: str) -> list[tuple[int, float]]:
        """``(epoch, value)`` for every metrics row that has ``name``."""
        return [(int(row["epoch"]), row[name]) for row in self.metrics if name in row]

    @property
    def train_seed(self) -> int:
        """The seed the run trained with (config.json's ``seed``; else the folder's number)."""
        seed = self.config.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else self.seed

    @property
    def versions(self) -> Mapping[str, str]:
        """The versions config.json records (lrlab, torch, numpy, python)."""
        versions = self.config.get("versions")
        return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {}


def read_experiment(compare_dir: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """The text of ``<dir>/experiment.toml`` and its parsed tables."""
    path = Path(compare_dir) / EXPERIMENT_TOML
    text = read_text(path)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LrlabError(f"{path}: not valid TOML: {error}.") from None


def load_runs(compare_dir: str | os.PathLike[str]) -> list[RunRecord]:
    """Every run under ``<dir>/runs/<variant>/seed<k>/``: variants in the order of the
    experiment's ``[[variant]]`` tables (others after, by name), seeds by number.

    Raises:
        LrlabError: ``compare_dir`` holds no runs, or a run's file is missing or damaged.
    """
    root = Path(compare_dir)
    runs = root / COMPARISON_RUNS
    seed_dirs = sorted(runs.glob("*/seed*")) if runs.is_dir() else []
    found = [(d.parent.name, int(m[1]), d) for d in seed_dirs if (m := _SEED_DIR.fullmatch(d.name))]
    if not found:
        raise LrlabError(
            f"{root} is not a comparison directory: it holds no {COMPARISON_RUNS}/<variant>/seed<k>/ run "
            "directories. Point at the folder 'lrlab compare' wrote."
        )
    order = _variant_order(root)
    found.sort(key=lambda item: (order.get(item[0], len(order)), item[0], item[1]))
    return [_load_run(variant, seed, path) for variant, seed, path in found]


def _variant_order(root: Path) -> dict[str, int]:
    if not (root / EXPERIMENT_TOML).exists():
        return {}
    _, experiment = read_experiment(root)
    variants = experiment.get("variant", [])
    names = [v.get("name") for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []
    return {str(name): index for index, name in enumerate(names)}


def _load_run(variant: str, seed: int, path: Path) -> RunRecord:
    config = read_json(path / CONFIG_JSON)
    if not (path / SUMMARY_JSON).exists() and (path / METRICS_CSV).exists():
        raise LrlabError(
            f"{path / SUMMARY_JSON} is missing: the run has not finished. "
            "Run the same 'lrlab compare' command again to finish it."
        )
    summary = read_json(path / SUMMARY_JSON)
    metrics = read_metrics(path / METRICS_CSV)
    try:
        experiment = config["experiment"]
        train = experiment["train"]
        schedule, interval = str(experiment["schedule"]), str(train["interval"])
        epochs, lr = train["epochs"], float(experiment["optimizer"]["lr"])
    except (KeyError, TypeError, ValueError) as error:
        raise LrlabError(f"{path / CONFIG_JSON}: no resolved experiment ({error!r} is missing).") from None
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise LrlabError(
            f"{path / CONFIG_JSON}: experiment.train.epochs must be a whole number in [1, {MAX_EPOCHS}], "
            f"got {shown(epochs)}; correct the file or rerun the run."
        )
    if interval not in ("step", "epoch"):
        raise LrlabError(
            f"{path / CONFIG_JSON}: experiment.train.interval must be 'step' or 'epoch', "
            f"got {shown(interval)}."
        )
    steps = _steps_per_epoch(metrics, summary, config)
    return RunRecord(variant, seed, path, metrics, summary, config, schedule, interval, epochs, steps, lr)


def _steps_per_epoch(
    metrics: Sequence[Mapping[str, float]], summary: Mapping[str, Any], config: Mapping[str, Any]
) -> int | None:
    """Recorded steps / epochs, else the batches of the training examples from config.json;
    ``None`` when nothing sensible (finite, at most :data:`MAX_STEPS_PER_EPOCH`) is recorded."""
    for candidate in _step_counts(metrics, summary, config):
        if 1 <= round(candidate) <= MAX_STEPS_PER_EPOCH:
            return round(candidate)
    return None


def _step_counts(
    metrics: Sequence[Mapping[str, float]], summary: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[float]:
    """What the run's files say its steps per epoch are, the most direct first."""
    if metrics:
        step, epoch = metrics[-1].get("step", 0.0), metrics[-1].get("epoch", 0.0)
        if math.isfinite(step) and step > 0 and epoch > 0:
            yield step / epoch
    steps, epochs = summary.get("steps"), summary.get("epochs")
    if isinstance(steps, int) and isinstance(epochs, int) and _count(steps) and _count(epochs):
        yield steps / epochs
    size, batch = dig(config, "data", "train"), dig(config, "experiment", "train", "batch_size")
    world = dig(config, "distributed", "world_size", default=1)  # per process: the global batch
    if all(_count(value) for value in (size, batch, world)):
        from lrlab.data.batches import batch_count  # imports torch: only when nothing else is recorded

        yield batch_count(size, batch, world)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def nonfinite_cells(records: Iterable[RunRecord]) -> int:
    """How many metrics.csv cells of ``records`` are nan or ±inf (figures leave them out)."""
    return sum(
        1
        for record in records
        for row in record.metrics
        for value in row.values()
        if not math.isfinite(value)
    )


def group_by_variant(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    """The records by variant, in the order variants first appear."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.variant, []).append(record)
    return groups
