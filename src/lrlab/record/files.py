"""A run directory's files by name, and reading them back with one-line errors.

Every run lrlab trains (``lrlab train``, a comparison's run, a tune trial, the final retrain)
keeps ``config.json`` (written before training: the settings and where they ran),
``metrics.csv`` (one row per finished epoch, :mod:`lrlab.record.metrics`) and, once it has
finished, ``summary.json`` (:mod:`lrlab.record.summary`); ``lrlab train`` adds ``checkpoint.pt``
and ``best.pt``. Files are read as hand-edited files may be: a missing or damaged one is an
:class:`~lrlab.errors.LrlabError` that names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrlab.errors import LrlabError

CONFIG_JSON = "config.json"
METRICS_CSV = "metrics.csv"
SUMMARY_JSON = "summary.json"
CHECKPOINT_PT = "checkpoint.pt"
BEST_PT = "best.pt"
EXPERIMENT_TOML = "experiment.toml"  # a comparison's or a study's resolved experiment
COMPARISON_RUNS = "runs"  # a comparison's runs: runs/<variant>/seed<k>/
RUN_FILES = (CONFIG_JSON, METRICS_CSV, CHECKPOINT_PT, BEST_PT, SUMMARY_JSON)  # in the order they appear


def read_text(path: Path) -> str:
    """The text of ``path`` (UTF-8).

    Raises:
        LrlabError: the file is missing or cannot be read.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LrlabError(f"{path} is missing.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LrlabError(f"{path}: cannot read it: {error}.") from None


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        LrlabError: the file is missing, cannot be read, is not JSON or not an object.
    """
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise LrlabError(f"{path}: not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise LrlabError(f"{path}: expected a JSON object, got {type(data).__name__}.")
    return data


def finished_summary(folder: Path) -> dict[str, Any] | None:
    """``folder``'s ``summary.json``, or ``None`` while the run has not finished (no such file).

    Raises:
        LrlabError: the summary is there but damaged.
    """
    path = folder / SUMMARY_JSON
    return read_json(path) if path.is_file() else None


def clear_run(folder: Path) -> None:
    """Remove a run's files from ``folder`` (to train it again from the start), the summary
    first: a folder without one holds an unfinished run."""
    for name in reversed(RUN_FILES):
        (folder / name).unlink(missing_ok=True)


def dig(data: object, *keys: str, default: Any = None) -> Any:
    """``data[k1][k2]…`` through nested JSON objects, or ``default`` where one is missing or is
    not an object (hand-edited files may hold anything)."""
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return data


def shown(value: object, width: int = 40) -> str:
    """``value`` for a one-line message: repr, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
