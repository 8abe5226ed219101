"""What decides a run's result besides its settings: plug-in sources, the data files it reads
and lrlab's version. ``config.json`` records them; a run whose record differs from what a new
run would record is stale, and is trained again instead of reused.

The run's folder name (:func:`lrlab.train.run.run_name`) hashes the settings only, so a stale run
keeps its folder (``--resume`` finds it) and its old files give way to the new training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrlab import __version__
from lrlab.config import Experiment
from lrlab.record.files import CONFIG_JSON

Identity = dict[str, Any]


def run_identity(experiment: Experiment) -> Identity:
    """``{"plugins": …, "data_files": …, "lrlab": version}`` of a run of ``experiment``."""
    from lrlab.train.setup import plugin_sources

    return {"plugins": plugin_sources(experiment), "data_files": data_files(experiment), "lrlab": __version__}


def data_files(experiment: Experiment) -> dict[str, str]:
    """``{file: "<size> bytes, mtime <ns>"}`` for each file the experiment's dataset is read from:
    ``idx(images=…, labels=…)``, ``text(path=…)``, and the downloaded files of ``mnist``,
    ``fashion-mnist`` and ``cifar10`` in the data folder (keyed by name inside it, so a moved data
    folder with the same files still matches). Built-in and plug-in data record nothing here (a
    plug-in's source is recorded instead)."""
    from lrlab.data import download
    from lrlab.data.cifar import BATCH_DIR, TEST_BATCH, TRAIN_BATCHES
    from lrlab.data.load import default_data_dir
    from lrlab.spec import Call, parse_expression

    task = experiment.task
    if task.plugin is not None:
        return {}
    try:
        spec = task.dataset.strip()
        call = parse_expression(spec if "(" in spec else f"{spec}()")
    except ValueError:
        return {}
    if not isinstance(call, Call):
        return {}
    folder = default_data_dir() if task.data_dir is None else Path(task.data_dir).expanduser()
    files: dict[str, Path] = {}
    options = dict(call.kwargs)
    if call.name in ("idx", "text"):
        keys = ("images", "labels") if call.name == "idx" else ("path",)
        files = {key: Path(value).expanduser() for key in keys if isinstance(value := options.get(key), str)}
    elif call.name in ("mnist", "fashion-mnist"):
        source = download.MNIST if call.name == "mnist" else download.FASHION_MNIST
        files = {f"{source.name}/{r.filename}": folder / source.name / r.filename for r in source.files}
    elif call.name == "cifar10":
        names = [f"{BATCH_DIR}/{name}" for name in (*TRAIN_BATCHES, TEST_BATCH)]
        files = {f"cifar10/{name}": folder / download.CIFAR10.name / name for name in names}
    return {key: _stamp(path) for key, path in files.items()}


def _stamp(path: Path) -> str:
    try:
        status = path.stat()
    except OSError:
        return "missing"
    return f"{status.st_size} bytes, mtime {status.st_mtime_ns}"


def recorded_identity(folder: Path) -> Identity | None:
    """The identity a run folder's ``config.json`` records (``None``: no readable record). Records
    written before data files were recorded count as recording none."""
    try:
        record = json.loads((folder / CONFIG_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    versions = record.get("versions")
    return {
        "plugins": record.get("plugins", {}),
        "data_files": record.get("data_files", {}),
        "lrlab": versions.get("lrlab") if isinstance(versions, dict) else None,
    }


def stale_reason(folder: Path, identity: Mapping[str, Any]) -> str | None:
    """Why the run in ``folder`` was made by something else than a run of ``identity`` would be
    (``None``: it was not, or nothing is recorded to tell)."""
    recorded = recorded_identity(folder)
    if recorded is None:
        return None
    if recorded["lrlab"] != identity["lrlab"]:
        return f"lrlab {recorded['lrlab']} → {identity['lrlab']}"
    if recorded["plugins"] != identity["plugins"]:
        changed = sorted(set(recorded["plugins"].items()) ^ set(identity["plugins"].items()))
        return f"plug-in {changed[0][0]!r} changed" if changed else "plug-in sources changed"
    old, new = recorded["data_files"], identity["data_files"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"data file {key!r} changed"
    return None
