"""Experiment files: TOML read into a validated :class:`~lrlab.config.Experiment`, and written
back (by ``tomli-w``) so that reading gives the same experiment."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from lrlab.config.schema import Experiment, validate
from lrlab.errors import LrlabError


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; ``name`` defaults to the file's stem."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LrlabError(f"experiment file {str(file)!r} not found.") from None
    except IsADirectoryError:
        fix = "Give the .toml file inside it, e.g. lrlab train experiment.toml."
        raise LrlabError(f"experiment file {str(file)!r} is a directory, not a file. {fix}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise LrlabError(f"{file}: not valid TOML: {error}.") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise LrlabError(f"{file}: arrays or tables nested too deep to read; flatten them.") from None
    if "name" not in data:
        data["name"] = re.sub(r"[^A-Za-z0-9._-]+", "-", file.stem).strip("-.")[:100] or "default"
    _locate_plugins(data, file)
    try:
        return validate(data)
    except LrlabError as error:
        raise LrlabError(f"{file}: {error}") from None


def _locate_plugins(data: dict[str, Any], file: Path) -> None:
    """Plug-ins of a file are imported from its folder: ``task.plugin_dir`` defaults to it and a
    relative one is relative to it (only when the file names a plug-in)."""
    from lrlab.plugins import is_plugin

    task = data.get("task")
    tables = [task, *(v.get("task") for v in data.get("variant", []) if isinstance(v, Mapping))]
    specs = [t.get(key) for t in tables if isinstance(t, Mapping) for key in ("plugin", "model", "dataset")]
    if not any(isinstance(spec, str) and is_plugin(spec) for spec in specs):
        return
    task = data.setdefault("task", {})
    folder = task.get("plugin_dir", ".") if isinstance(task, dict) else None
    if isinstance(folder, str):  # else validation names the bad value
        task["plugin_dir"] = str((file.parent / Path(folder).expanduser()).resolve())


def to_toml(experiment: Experiment) -> str:
    """The experiment as TOML that :func:`load_experiment` reads back equal (``None`` left out);
    variants come last, as ``[[variant]]`` tables without their empty tables."""
    data = experiment.model_dump(exclude_none=True)
    variants = [_variant_toml(variant) for variant in data.pop("variant")]
    return "\n".join([tomli_w.dumps(data), *variants])


def _variant_toml(variant: Mapping[str, Any]) -> str:
    """One ``[[variant]]`` table (``tomli-w`` would write a short list of tables inline)."""
    text = tomli_w.dumps({"variant": {key: value for key, value in variant.items() if value != {}}})
    return "[[variant]]" + text.removeprefix("[variant]")
