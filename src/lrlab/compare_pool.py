"""The trainers of a comparison: this process and ``jobs - 1`` spawned workers (:mod:`lrlab.parallel`)
fed from one queue, each run trained by :func:`run_one` under its run directory's lock
(:mod:`lrlab.runlock`).

This process trains too, so one worker fewer pays the start of a fresh Python (importing torch).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import threading
import time
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lrlab import lifeline, parallel, runlock
from lrlab.compare_runs import Plan, RunReport, RunSpec, RunWatcher
from lrlab.record.files import SUMMARY_JSON, clear_run, finished_summary
from lrlab.train.horizon import ScheduleHorizonWarning

STOP_WAIT_S = 10.0
Stamp = tuple[int, int]  # a file's inode and modification time: which version of it


def train_all(planned: Plan, watcher: RunWatcher | None) -> list[RunReport]:
    """Train ``planned.pending`` with ``planned.workers`` trainers, each taking the next run as it
    frees up; ``watcher`` is told of each run as it finishes. The first failure is raised once
    every trainer has stopped."""
    directory, jobs = planned.directory, planned.workers
    tasks = [
        _Task(spec, _stamp(directory / spec.folder / SUMMARY_JSON), spec.folder in planned.stale)
        for spec in planned.pending
    ]
    runs = _Runs(tasks, watcher)
    threads = parallel.worker_threads(jobs)
    if jobs == 1:
        _train_here(runs, directory, threads)
        return runs.reports
    workers = [_Worker(threads) for _ in range(jobs - 1)]
    feeders = [
        threading.Thread(target=_feed, args=(worker, runs, directory), daemon=True) for worker in workers
    ]
    for feeder in feeders:
        feeder.start()
    try:
        _train_here(runs, directory, threads)
    except BaseException as error:
        runs.fail(error)
        if not isinstance(error, Exception):  # Ctrl-C, exit: no waiting for the workers' runs
            for worker in workers:
                worker.kill()
        raise
    finally:
        for feeder in feeders:
            feeder.join()
        for worker in workers:
            worker.stop()
    runs.raise_failure()
    return runs.reports


class WorkerDied(ChildProcessError):
    """A worker process ended while it trained a run (killed, or out of memory)."""


@dataclass(frozen=True)
class _Task:
    """A run to train; ``stale``: the stamp of a ``summary.json`` its folder held when the
    comparison was planned that did not count as finished (one that appears later does);
    ``restart``: the folder's run is stale and starts again."""

    spec: RunSpec
    stale: Stamp | None = None
    restart: bool = False


def _stamp(path: Path) -> Stamp | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_mtime_ns


class _Worker:
    """A spawned worker process that trains the runs it is sent, one at a time, over a pipe."""

    def __init__(self, threads: int) -> None:
        here, there = parallel.SPAWN.Pipe()
        self.connection = here
        self.process = parallel.spawn(_worker_main, there, threads, name="lrlab-compare-worker")
        there.close()  # the worker's end lives in the worker: its death is this end's EOF

    def run(self, task: _Task, directory: Path) -> RunReport:
        """Train ``task`` in the worker; its error is raised here."""
        try:
            self.connection.send((task, directory))
            ok, value = self.connection.recv()
        except (EOFError, OSError):
            raise WorkerDied(f"worker process {self.process.pid} died") from None
        if not ok:
            raise value
        report: RunReport = value
        return report

    def stop(self) -> None:
        """Ask the worker to end, and wait for it (a worker that does not end is killed)."""
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(STOP_WAIT_S)
        if self.process.is_alive():
            self.kill()
        self.connection.close()

    def kill(self) -> None:
        """End the worker at once (its run resumes from its last checkpoint)."""
        self.process.kill()
        self.process.join()


class _Runs:
    """The runs left to train and the reports so far, shared by the threads that hand them out."""

    def __init__(self, pending: Sequence[_Task], watcher: RunWatcher | None) -> None:
        self.reports: list[RunReport] = []
        self._left, self._watcher = deque(pending), watcher
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def take(self) -> _Task | None:
        """The next run to train (None when all are handed out, or one failed)."""
        with self._lock:
            return self._left.popleft() if self._left and not self._errors else None

    def done(self, report: RunReport) -> None:
        with self._lock:
            self.reports.append(report)
            if self._watcher is not None:
                self._watcher.finished(report)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    def raise_failure(self) -> None:
        """Raise the first failure of a worker, if any."""
        if not self._errors:
            return
        if isinstance(self._errors[0], WorkerDied):
            raise ChildProcessError(
                "a worker process died (killed, or out of memory); run the same command again to "
                "continue: finished runs are kept and started ones resume."
            ) from None
        raise self._errors[0]


def _feed(worker: _Worker, runs: _Runs, directory: Path) -> None:
    """Keep ``worker`` busy with the next runs."""
    while (task := runs.take()) is not None:
        try:
            runs.done(worker.run(task, directory))
        except BaseException as error:  # handed to the main thread, which raises it
            runs.fail(error)
            return


def _train_here(runs: _Runs, directory: Path, threads: int) -> None:
    with parallel.torch_threads(threads):
        while (task := runs.take()) is not None:
            runs.done(run_one(task.spec, directory, stale=task.stale, restart=task.restart))


def _worker_main(connection: Connection, threads: int, parent: int) -> None:
    """A worker process: train each run it is sent until told to stop or its parent is gone."""
    parallel.enter_worker(parent)
    with parallel.torch_threads(threads):
        importlib.import_module("lrlab.train.run")  # before the first run, so its time is the run's
        while not lifeline.orphaned(parent):
            try:
                message = connection.recv()
            except (EOFError, OSError):  # the parent closed its end, or died
                return
            if message is None:
                return
            task, directory = message
            try:
                reply: tuple[bool, Any] = (
                    True,
                    run_one(task.spec, directory, stale=task.stale, restart=task.restart),
                )
            except Exception as error:
                reply = (False, _portable(error))
            connection.send(reply)


def _portable(error: Exception) -> Exception:
    """``error``, or a plain error with its type and message when it cannot be pickled."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def run_one(
    spec: RunSpec, directory: Path, *, stale: Stamp | None = None, restart: bool = False
) -> RunReport:
    """Train (or resume) one run into ``directory / spec.folder``, quietly, holding its lock: a
    run another process is training is waited for, and one that finished meanwhile (a
    ``summary.json`` other than the ``stale`` one) is reported as trained before (``pid`` None),
    not trained again. ``restart``: the folder's old run is removed first."""
    from lrlab.train.run import train

    folder = directory / spec.folder
    with runlock.claim(folder, wait=True):
        finished = finished_summary(folder) if _stamp(folder / SUMMARY_JSON) not in (None, stale) else None
        if finished is not None:
            return RunReport(spec, finished, None, 0.0)
        if restart:
            clear_run(folder)
        started = time.perf_counter()
        with warnings.catch_warnings():  # said once per variant when the comparison was planned
            warnings.simplefilter("ignore", ScheduleHorizonWarning)
            result = train(spec.experiment, run_dir=folder, resume=True, quiet=True)
    return RunReport(spec, result.summary, os.getpid(), time.perf_counter() - started)
