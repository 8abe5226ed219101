"""Where each command writes, and the checks that keep one experiment from overwriting another.

Every command has its own namespace under ``runs/`` (each command's ``--out`` default)::

    runs/<name>/                 lrlab compare: a comparison (the quickstart: runs/quickstart/)
    runs/tune/<study>/           lrlab tune: a study
    runs/train/<name>/<run>/     lrlab train: run directories
    runs/find-lr/<name>/<run>/   lrlab find-lr: range tests

so a study and a comparison of the same name, the training of a study's ``best.toml`` and a
range test of a preset all keep apart. A comparison may not be named after another command's
namespace. Within a namespace, a folder that holds a *different* experiment (its
``experiment.toml``) is never overwritten without ``--force``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lrlab.config import Experiment, to_toml
from lrlab.errors import LrlabError, invalid
from lrlab.record.files import EXPERIMENT_TOML

COMPARE_OUT = "runs"
TUNE_OUT = "runs/tune"
TRAIN_OUT = "runs/train"
FIND_LR_OUT = "runs/find-lr"
# the folders of runs/ that belong to other commands: tune, train, find-lr
RESERVED = tuple(out.removeprefix(f"{COMPARE_OUT}/") for out in (TUNE_OUT, TRAIN_OUT, FIND_LR_OUT))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_WHERE = {"task.data_dir", "task.plugin_dir"}  # where files are found: not the experiment


def check_name(name: object, param: str) -> str:
    """``name`` when it is a plain folder name (no path separators, no ``..``, not hidden)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid(param, "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
    return name


def check_comparison_name(name: str) -> None:
    """A comparison lives in ``runs/<name>/``: not in another command's namespace."""
    if name.casefold() in RESERVED:
        raise LrlabError(
            f"a comparison may not be named {name!r}: runs/{name.casefold()}/ holds lrlab "
            f"{name.casefold()}'s folders; pass --name NAME."
        )


def check_experiment_folder(
    folder: Path, experiment: Experiment, *, command: str, force: bool, ignore: tuple[str, ...] = ()
) -> None:
    """Refuse to write ``experiment`` into ``folder`` when the ``experiment.toml`` there holds a
    different experiment (keys in ``ignore`` and where files are found aside), unless ``force``.
    Writes nothing."""
    file = folder / EXPERIMENT_TOML
    if force or not file.exists():
        return
    try:
        old: Any = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    new = tomllib.loads(to_toml(experiment))
    skipped = _WHERE | set(ignore)
    difference = (
        "an unreadable experiment.toml" if old is None else next(_differences(old, new, "", skipped), None)
    )
    if difference is not None:
        raise LrlabError(
            f"{folder} holds another experiment ({difference}) that lrlab {command} would overwrite; "
            "pass --force to replace it, or --name NAME or --out DIR to keep both."
        )


def _differences(old: object, new: object, path: str, skipped: set[str]) -> Iterator[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            if f"{path}{key}" not in skipped:
                yield from _differences(old.get(key), new.get(key), f"{path}{key}.", skipped)
    elif old != new:
        shown = "absent" if old is None else repr(old)
        yield f"{path.rstrip('.')}: {shown} → {'absent' if new is None else repr(new)}"
