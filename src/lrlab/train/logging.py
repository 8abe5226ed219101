"""Metrics written as the run goes (CSV flushed every epoch, optional TensorBoard) and the progress
display (a live bar on a terminal, a line per epoch in a log)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from lrlab.errors import LrlabError
from lrlab.record import append_text, write_text
from lrlab.record.files import METRICS_CSV
from lrlab.record.metrics import metrics_text
from lrlab.train.callbacks import Callback
from lrlab.train.state import Run


class MetricsCsv(Callback):
    """``metrics.csv``: one row per finished epoch, appended, flushed and synced at once.

    On resume the file is rewritten from the checkpoint's history, so it always matches it.
    """

    order = 150
    writes_files = True

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / METRICS_CSV
        self.synced = False

    def on_fit_start(self, run: Run) -> None:
        self.synced = False

    def on_epoch_start(self, run: Run) -> None:
        if not self.synced:  # first epoch of this process: match the (maybe restored) history
            self.rewrite(run.state.history)
            self.synced = True

    def rewrite(self, history: Sequence[Mapping[str, float]]) -> None:
        """Replace the file with ``history`` (atomically)."""
        columns = list(history[0]) if history else []
        write_text(self.path, metrics_text(history, columns, header=bool(columns)))

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        append_text(self.path, metrics_text([metrics], list(metrics), header=new))


def _summary_writer_class() -> Any:
    """torch's ``SummaryWriter``, or an error saying how to install what it needs."""
    try:
        importlib.import_module("tensorboard")  # what torch.utils.tensorboard needs
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise LrlabError(
            "TensorBoardLogger needs the tensorboard package; install it with "
            "pip install lrlab[tensorboard] (or pip install tensorboard)."
        ) from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Each finished epoch's metrics as TensorBoard scalars in ``directory``, at step = the epoch.

    Needs the ``tensorboard`` package (``pip install lrlab[tensorboard]``); without it the
    constructor raises an :class:`~lrlab.errors.LrlabError`. A resumed run hides the events a
    killed run wrote after its checkpoint (``purge_step``), so every epoch shows once.
    """

    order = 150
    writes_files = True

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._writer_class = _summary_writer_class()
        self._writer: Any = None

    def on_fit_start(self, run: Run) -> None:
        self.close()

    def on_epoch_start(self, run: Run) -> None:
        if self._writer is None:  # first epoch of this process: after any resume has loaded
            purge = run.state.epoch + 1 if run.state.epoch > 0 else None
            self._writer = self._writer_class(log_dir=str(self.directory), purge_step=purge)

    def on_epoch_end(self, run: Run, metrics: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        epoch = int(metrics["epoch"])
        for name, value in metrics.items():
            if name != "epoch":
                self._writer.add_scalar(name, value, global_step=epoch)
        self._writer.flush()

    def on_fit_end(self, run: Run) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file (a later epoch opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Progress:
    """What a person watching sees of a long job, on ``stream`` (default: ``sys.stderr``).

    On a terminal: a live rich bar, and each ``update``'s text printed above it as one line of
    history (with ``history``), so a finished fit leaves one line per epoch. Elsewhere (a file,
    a pipe, a notebook): a plain line per ``update``, at most one per ``every`` units of
    progress (and the last), flushed at once, so a log shows how the job went. Nothing at all
    when ``quiet``. ``fit`` updates once per epoch; the range test's command once per step.
    """

    def __init__(
        self,
        total_steps: int,
        *,
        quiet: bool,
        description: str = "training",
        unit: str = "step",
        history: bool = True,
        every: int = 1,
        stream: TextIO | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = _is_terminal(self.stream) if terminal is None else terminal
        self.enabled = not quiet
        self.total, self.description, self.unit = max(0, int(total_steps)), description, unit
        self.history, self.every = history, max(1, int(every))
        self._bar: Any = None
        self._task: Any = None
        self._logged: int | None = None

    def __enter__(self) -> Progress:
        if self.enabled and self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            console = Console(file=self.stream, force_terminal=True, highlight=False)
            self._bar = Progress(*columns, console=console, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def update(self, completed: int, text: str = "") -> None:
        """Show ``completed`` steps, and ``text`` (e.g. the last epoch's metrics)."""
        if not self.enabled:
            return
        line = self.line(completed, text)
        if self._bar is not None:
            if self.history and text:
                self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
            self._bar.update(self._task, completed=completed)
            return
        if self.terminal:
            return  # a terminal outside the with-block: nothing to draw on
        last = self._logged
        due = last is None or completed - last >= self.every or completed >= self.total
        if due and last != completed:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._logged = completed

    def line(self, completed: int, text: str = "") -> str:
        """The line logged for ``completed`` of the total: ``"training: step 120/400 · epoch 3 · …"``."""
        width = len(str(self.total))
        count = f"{self.description}: {self.unit} {completed:>{width}}/{self.total}"
        parts = [count] + ([text] if text else [])
        return " · ".join(parts)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
            self._bar = None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False
