"""Atomic checkpoints with everything an exact resume needs, loadable with ``weights_only=True``."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lrlab import runlock
from lrlab.errors import LrlabError
from lrlab.record import write_torch
from lrlab.record.files import BEST_PT, CHECKPOINT_PT
from lrlab.train.callbacks import Callback
from lrlab.train.early_stopping import copy_weights, metric_value
from lrlab.train.monitor import Monitor
from lrlab.train.rundir import check_config, remove_temporaries
from lrlab.train.state import Run
from lrlab.train.stop import Stop

CHECKPOINT, BEST = CHECKPOINT_PT, BEST_PT  # the names the loop and lrlab branches know them by
RESUME = "run the same command with --resume"  # what a full disk's message ends with


def rng_state() -> dict[str, Any]:
    """The state of every random generator a fit uses, as plain data and tensors."""
    kind, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), position, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def run_state(run: Run) -> dict[str, Any]:
    """Everything needed to continue ``run`` exactly."""
    return {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "state": run.state.state_dict(),
        "schedule": str(run.schedule),
        "stop_reason": None if run.stopped is None else run.stopped.to_dict(),
        "callbacks": {callback.key: callback.state_dict() for callback in run.callbacks},
        "rng": rng_state(),
    }


def load_run_state(path: Path, run: Run) -> None:
    """Load a :func:`run_state` file into ``run`` and its callbacks.

    Raises:
        LrlabError: the file cannot be read or belongs to another run (then the fit ends here,
            and this process's claim of the run directory with it).
    """
    try:
        _load_run_state(path, run)
    except LrlabError:
        runlock.release(path.parent)
        raise


def _load_run_state(path: Path, run: Run) -> None:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a torn or foreign file: say which one
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _foreign(path, f"it cannot be read: {first}") from None
    _check_belongs(path, saved, run)
    if saved["schedule"] != str(run.schedule):
        raise LrlabError(
            f"checkpoint {path} was made with schedule {saved['schedule']!r}, not {str(run.schedule)!r}; "
            "resume with the original schedule or start a fresh run."
        )
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.state.load_state_dict(saved["state"])
    run.stopped = Stop.from_dict(saved["stop_reason"])
    for callback in run.callbacks:
        if callback.key in saved["callbacks"]:
            callback.load_state_dict(saved["callbacks"][callback.key])
    set_rng_state(saved["rng"])


_RUN_KEYS = ("model", "optimizer", "state", "schedule", "stop_reason", "callbacks", "rng")


def _foreign(path: Path, why: str) -> LrlabError:
    return LrlabError(
        f"checkpoint {path} does not belong to this run ({why}); delete it (or the run folder) to "
        "start afresh, or resume with the settings that made it."
    )


def _check_belongs(path: Path, saved: object, run: Run) -> None:
    """Refuse a checkpoint that another run, another model or another program wrote, before any
    of it is loaded (torch's own errors say ``size mismatch`` or ``KeyError`` far from the cause)."""
    if not isinstance(saved, dict) or any(key not in saved for key in _RUN_KEYS):
        shown = sorted(map(str, saved))[:6] if isinstance(saved, dict) else type(saved).__name__
        raise _foreign(path, f"it is not an lrlab run checkpoint: it holds {shown}")
    weights, expected = saved["model"], run.model.state_dict()
    if not isinstance(weights, dict) or set(weights) != set(expected):
        names = set(weights) if isinstance(weights, dict) else set()
        differ = sorted(names ^ set(expected))[:3]
        raise _foreign(path, f"its model has other parameters: {', '.join(differ) or 'none'} differ")
    for name, tensor in expected.items():
        theirs = weights[name]
        if not isinstance(theirs, torch.Tensor) or theirs.shape != tensor.shape:
            shape = tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
            raise _foreign(path, f"its {name} is shaped {shape}, this model's {tuple(tensor.shape)}")
    groups = saved["optimizer"].get("param_groups") if isinstance(saved["optimizer"], dict) else None
    sizes = [len(group.get("params", ())) for group in groups] if isinstance(groups, list) else None
    if sizes != [len(group["params"]) for group in run.optimizer.param_groups]:
        raise _foreign(path, "its optimizer has other parameter groups")
    state = saved["state"]
    if not isinstance(state, dict) or any(
        key not in state for key in ("epoch", "step", "lr_scale", "history")
    ):
        raise _foreign(path, "its training counters are missing")


class Checkpoint(Callback):
    """Write ``checkpoint.pt`` (the whole run) every ``every`` epochs and ``best.pt`` (weights)
    whenever ``monitor`` improves; both atomically (:mod:`lrlab.record`: a full disk keeps the
    previous file and says so).

    The fit holds its run directory from start to end (:mod:`lrlab.runlock`; a directory another
    process is training is refused), and each start — fresh or resumed — first removes the
    temporaries of saves a kill interrupted and refuses a ``config.json`` that cannot be read."""

    order = 200
    writes_files = True

    def __init__(
        self, directory: str | Path, *, monitor: str = "val_loss", mode: str = "auto", every: int = 1
    ) -> None:
        self.directory = Path(directory)
        self.monitor, self.every = Monitor(monitor, mode), every
        self._claimed = False

    def on_fit_start(self, run: Run) -> None:
        self.monitor = Monitor(self.monitor.metric, self.monitor.mode)
        self._release()
        self._claimed = runlock.acquire(self.directory, wait=False)
        remove_temporaries(self.directory)
        check_config(self.directory)

    def on_fit_end(self, run: Run) -> None:
        self._release()

    def _release(self) -> None:
        if self._claimed:
            runlock.release(self.directory)
            self._claimed = False

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        epoch = int(metrics["epoch"])
        try:
            if self.monitor.update(metric_value(metrics, self.monitor.metric), epoch):
                best = {"model": copy_weights(run), "epoch": epoch, **dict(metrics)}
                write_torch(self.directory / BEST, best, retry=RESUME)
            if epoch % self.every == 0 or run.stopped is not None:
                write_torch(self.directory / CHECKPOINT, run_state(run), retry=RESUME)
        except OSError:  # the fit ends here: let a resume in this process claim the folder anew
            self._release()
            raise

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
