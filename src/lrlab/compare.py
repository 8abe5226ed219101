"""``compare``: an experiment's variants × seeds → runs through the same ``train``, optionally in
parallel worker processes, then mean ± std over seeds per variant.

The comparison directory (what ``lrlab report`` reads)::

    <out>/<experiment name>/
      experiment.toml              the resolved experiment, variants included, written first
      runs/<variant>/seed<k>/      a run directory of lrlab.train.run (config.json, …, summary.json)
      summary.csv                  one row per variant: aggregates over its seeds

Run ``k`` of a variant trains with ``train.seed = <the variant's train.seed> + k``. A run is
finished when its ``summary.json`` exists and is then never trained again; a started run is
resumed from its checkpoint, so a killed comparison continues where it stopped when run again.
A run folder whose ``config.json`` holds other settings is an error, not silently mixed in.
An experiment without variants is compared as one variant named ``base``.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from lrlab import lifeline, runlock
from lrlab.compare_checks import check_runs_can_start, finished_runs
from lrlab.config import Experiment, Variant, resolve_variant, to_toml, validate
from lrlab.errors import invalid
from lrlab.namespaces import check_comparison_name, check_experiment_folder
from lrlab.record import write_text
from lrlab.record.files import SUMMARY_JSON, clear_run, finished_summary
from lrlab.report.records import VariantRow, aggregate, write_summary_csv
from lrlab.report.runs import load_runs
from lrlab.train.horizon import ScheduleHorizonWarning

EXPERIMENT_FILE = "experiment.toml"
RUNS = "runs"
SUMMARY_CSV = "summary.csv"
BASE_VARIANT = "base"


@dataclass(frozen=True)
class RunSpec:
    """One run of a comparison: variant ``variant``, seed number ``index`` (folder ``seed<index>``)."""

    variant: str
    index: int
    experiment: Experiment

    @property
    def folder(self) -> Path:
        """The run directory relative to the comparison directory."""
        return Path(RUNS) / self.variant / f"seed{self.index}"


@dataclass(frozen=True)
class RunReport:
    """A finished run: its ``summary.json``; ``pid`` and ``seconds`` of the process that trained it
    now (``None`` and 0 for a run finished by an earlier call)."""

    spec: RunSpec
    summary: dict[str, Any]
    pid: int | None
    seconds: float

    @property
    def skipped(self) -> bool:
        """Whether the run was already finished before this call."""
        return self.pid is None


@dataclass(frozen=True)
class ComparisonResult:
    """The comparison directory, every run (in :func:`expand` order), the rows of ``summary.csv``
    and the HTML report (``None`` when not built)."""

    directory: Path
    runs: tuple[RunReport, ...]
    rows: tuple[VariantRow, ...]
    report: Path | None


def expand(experiment: Experiment, seeds: int | None = None) -> list[RunSpec]:
    """Variants × seeds as runs, seed by seed (every variant's first seed comes first).

    Args:
        experiment: shared settings and ``[[variant]]`` tables.
        seeds: runs per variant (default: ``experiment.seeds``).
    """
    count = experiment.seeds if seeds is None else seeds
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise invalid("seeds", "an integer in [1, 1000]", count)
    variants = experiment.variant or [Variant(name=BASE_VARIANT)]
    resolved = [(variant.name, resolve_variant(experiment, variant)) for variant in variants]
    return [RunSpec(name, k, _with_seed(shared, k)) for k in range(count) for name, shared in resolved]


def _with_seed(experiment: Experiment, index: int) -> Experiment:
    data = experiment.model_dump()
    data["train"]["seed"] += index
    data["seeds"] = 1
    return validate(data)


def worker_threads(jobs: int) -> int:
    """Torch threads per worker: the CPUs this process may use divided among ``jobs`` workers
    (at least 1), and at most ``$OMP_NUM_THREADS`` when that is set."""
    threads = max(1, _cpus() // max(1, jobs))
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(limit)) if limit.isdigit() and int(limit) >= 1 else threads


@dataclass(frozen=True)
class Plan:
    """What a comparison will do, known once every check has passed: its directory, every run
    (in :func:`expand` order), the summaries of those finished before, and the worker count
    (``jobs``, at most one per CPU and one per pending run; ``lowered`` says why when lower)."""

    directory: Path
    specs: tuple[RunSpec, ...]
    done: dict[Path, dict[str, Any]]
    workers: int
    lowered: str | None = None  # why ``workers`` is below the ``jobs`` asked for, if it is
    stale: dict[Path, str] = field(default_factory=dict)  # old runs trained again, and why

    @property
    def pending(self) -> list[RunSpec]:
        """The runs still to train (or to resume)."""
        return [spec for spec in self.specs if spec.folder not in self.done]


class Progress(Protocol):
    """Told when the checks have passed, and of each run as it finishes (finished ones first)."""

    def start(self, plan: Plan) -> None:
        """Every check passed; training begins."""

    def finished(self, run: RunReport) -> None:
        """``run`` finished (or had finished before)."""


def plan(
    experiment: Experiment,
    *,
    out: str | Path = "runs",
    jobs: int = 1,
    seeds: int | None = None,
    force: bool = False,
) -> Plan:
    """Check everything before the first run starts: settings, each dataset (loaded once, so
    missing files are an error here), each variant's model and optimizer, and old run folders:
    finished runs are reused unless stale (:func:`~lrlab.compare_checks.finished_runs`). Writes
    nothing; the arguments are those of :func:`compare`."""
    specs = tuple(expand(experiment, seeds))
    _check_jobs(jobs)
    directory = Path(out).expanduser() / experiment.name
    check_comparison_name(experiment.name)
    old = finished_runs(specs, directory, force=force)
    check_experiment_folder(directory, experiment, command="compare", force=force, ignore=("seeds",))
    done = old.reused
    for note in check_runs_can_start([spec for spec in specs if spec.folder not in done]):
        warnings.warn(note, ScheduleHorizonWarning, stacklevel=2)  # the CLI prints it as one line
    workers, lowered = worker_count(jobs, len(specs) - len(done))
    return Plan(directory, specs, done, workers, lowered, old.stale)


def worker_count(jobs: int, pending: int) -> tuple[int, str | None]:
    """The trainers for ``pending`` runs when ``jobs`` are asked for (``0``: one per CPU): at most
    one per CPU and one per run, at least 1; and why an explicit ``jobs`` was lowered, if it was."""
    cpus = _cpus()
    workers = max(1, min(jobs or cpus, cpus, pending))
    if not jobs or workers >= jobs or pending == 0:
        return workers, None
    limits = [f"{cpus} CPU{'s' * (cpus != 1)}"] if cpus == workers else []
    limits += [f"{pending} run{'s' * (pending != 1)} to train"] if pending == workers else []
    return workers, f"jobs={jobs} lowered to {workers}: {' and '.join(limits)}"


def compare(
    experiment: Experiment,
    *,
    out: str | Path = "runs",
    jobs: int = 1,
    seeds: int | None = None,
    progress: Progress | None = None,
    report: bool = True,
    force: bool = False,
) -> ComparisonResult:
    """Train every pending run of ``experiment`` and summarize them in ``<out>/<name>/``, after
    the checks of :func:`plan`.

    Args:
        experiment: the comparison (see :func:`expand`).
        out: parent of the comparison directory.
        jobs: worker processes (``0``: one per CPU); with 1, runs train in this process.
        seeds: runs per variant (default: ``experiment.seeds``).
        progress: told when training starts and as each run finishes.
        report: build the HTML report when :mod:`lrlab.report` offers ``build_report``.
        force: train again run folders that hold other settings (else an error).

    Raises:
        LrlabError: bad settings, a missing dataset, or run folders holding other settings.
    """
    planned = plan(experiment, out=out, jobs=jobs, seeds=seeds, force=force)
    count = len(planned.specs) // len(_names(planned.specs))
    resolved = validate({**experiment.model_dump(), "seeds": count})
    write_text(planned.directory / EXPERIMENT_FILE, to_toml(resolved))
    if progress is not None:
        progress.start(planned)
    reports = {
        folder: RunReport(spec, planned.done[folder], None, 0.0)
        for spec in planned.specs
        if (folder := spec.folder) in planned.done
    }
    for earlier in reports.values():
        _notify(progress, earlier)
    for trained in _train_all(planned, progress):
        reports[trained.spec.folder] = trained
    runs = tuple(reports[spec.folder] for spec in planned.specs)
    rows = tuple(aggregate(load_runs(planned.directory)))
    write_summary_csv(rows, planned.directory / SUMMARY_CSV)
    return ComparisonResult(
        planned.directory, runs, rows, _build_report(planned.directory) if report else None
    )


def _names(specs: Sequence[RunSpec]) -> list[str]:
    return list(dict.fromkeys(spec.variant for spec in specs))


def _check_jobs(jobs: int) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise invalid("jobs", "an integer >= 0 (0: one per CPU)", jobs)


def _cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _notify(progress: Progress | None, run: RunReport) -> None:
    if progress is not None:
        progress.finished(run)


def _train_all(planned: Plan, progress: Progress | None) -> list[RunReport]:
    """Train ``pending`` with ``jobs`` trainers: this process and ``jobs - 1`` spawned workers (no
    forked torch state; works on every OS), each taking the next run as it frees up. This process
    trains too, so one worker fewer pays the start of a fresh Python (importing torch).

    The workers are started from this (the main) thread and die with this process
    (:mod:`lrlab.lifeline`); each run is trained under its run directory's lock
    (:mod:`lrlab.runlock`)."""
    directory, jobs = planned.directory, planned.workers
    tasks = [
        _Task(spec, _stamp(directory / spec.folder / SUMMARY_JSON), spec.folder in planned.stale)
        for spec in planned.pending
    ]
    runs = _Runs(tasks, progress)
    threads = worker_threads(jobs)
    if jobs == 1:
        _train_here(runs, directory, threads)
        return runs.reports
    context = multiprocessing.get_context("spawn")
    workers = [_Worker(context, threads) for _ in range(jobs - 1)]
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


class _Worker:
    """A spawned worker process that trains the runs it is sent, one at a time, over a pipe."""

    def __init__(self, context: multiprocessing.context.SpawnContext, threads: int) -> None:
        here, there = context.Pipe()
        self.connection = here
        self.process = context.Process(
            target=_worker_main, args=(there, threads, os.getpid()), name="lrlab-compare-worker"
        )
        self.process.start()
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


STOP_WAIT_S = 10.0
Stamp = tuple[int, int]  # a file's inode and modification time: which version of it


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


class _Runs:
    """The runs left to train and the reports so far, shared by the threads that hand them out."""

    def __init__(self, pending: Sequence[_Task], progress: Progress | None) -> None:
        self.reports: list[RunReport] = []
        self._left, self._progress = deque(pending), progress
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def take(self) -> _Task | None:
        """The next run to train (None when all are handed out, or one failed)."""
        with self._lock:
            return self._left.popleft() if self._left and not self._errors else None

    def done(self, report: RunReport) -> None:
        with self._lock:
            self.reports.append(report)
            _notify(self._progress, report)

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
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        while (task := runs.take()) is not None:
            runs.done(run_one(task.spec, directory, stale=task.stale, restart=task.restart))
    finally:
        torch.set_num_threads(before)


def _worker_main(connection: Connection, threads: int, parent: int) -> None:
    """A worker process: train each run it is sent until told to stop or its parent is gone."""
    lifeline.die_with_parent(parent)
    _start_worker(threads)
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


def _start_worker(threads: int) -> None:
    import torch

    # Ctrl-C ends a worker at once, as a kill would: its run resumes from its last checkpoint
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    torch.set_num_threads(threads)
    importlib.import_module("lrlab.train.run")  # before the first run, so its time is the run's


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


def _build_report(directory: Path) -> Path | None:
    """The report page, when :mod:`lrlab.report` offers ``build_report`` (it may not yet)."""
    build: Callable[[Path], Path] | None = getattr(
        importlib.import_module("lrlab.report"), "build_report", None
    )
    return None if build is None else build(directory)
