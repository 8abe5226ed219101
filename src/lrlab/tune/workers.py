"""Workers: loops that run trials of one study until it reaches its budget: ``--trials``
finished trials, ``--budget-epochs`` training epochs (:mod:`lrlab.tune.budget`), whichever
comes first.

Any number of workers may share a study — ``--workers N`` processes on this machine, and
``lrlab tune --storage URL --study NAME`` on others — and together they finish exactly
``--trials`` trials (complete or pruned) and train at most ``--budget-epochs`` epochs: before
starting a trial a worker counts the trials that are finished, running or queued, and the
epochs they spent or hold; when these leave no room it waits for the running ones instead (a
pruned trial gives its unused epochs back; a killed worker's trial goes stale, is failed by the
heartbeat check and queued again, and a waiting worker picks it up). Two workers that start the
last trial at the same moment are told apart by trial number: the later one is marked failed
with the user attribute ``over_budget`` before training anything. With ``train.epochs``
searched, a trial's length is known once drawn: a drawn trial that does not fit is not run, and
no trial starts until as many epochs are free (the study ends when none are running).

A storage that stays locked past its timeout (SQLite under heavy contention) costs a pause and
a retry, never the worker: a trial caught in it is failed by the heartbeat check and retried.

A failed trial keeps its cause, one line, in the user attribute ``fail_reason`` (Optuna itself
only logs it), and its line is logged as a warning: a command line shows it even when quiet.
Worker processes die with the process that started them (:mod:`lrlab.lifeline`); their running
trials are then failed by the heartbeat check and retried by the next ``lrlab tune``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrlab import parallel
from lrlab.config import Experiment
from lrlab.errors import LrlabError
from lrlab.tune.budget import OVER_BUDGET, Budget
from lrlab.tune.objective import Objective
from lrlab.tune.samplers import make_pruner, make_sampler
from lrlab.tune.space import build_space
from lrlab.tune.storage import open_storage
from lrlab.tune.study import TuneConfig, budget_of

logger = logging.getLogger("lrlab.tune")
FAIL_REASON = "fail_reason"
STDERR_HANDLER = "lrlab-stderr"
REASON_CHARS = 300  # a failure's cause is one line, at most this long
POLL_S = 1.0
MAX_FAILURES = 3  # failed trials in a row before a worker stops (a setting that never trains)


class OverBudget(Exception):
    """A trial started when the study had its trials, or its epochs left could not hold it (a
    race between workers, or a drawn ``train.epochs`` too long)."""


@dataclass(frozen=True)
class Job:
    """What a worker needs (picklable: it is sent to worker processes)."""

    experiment: Experiment
    config: TuneConfig
    folder: Path
    url: str
    study_name: str
    deadline: float = math.inf  # time.time() after which no trial starts (--timeout)
    index: int = 0
    log_level: int | None = None  # a worker process's lrlab.tune log to stderr: its level, or none


def run_workers(job: Job) -> list[str]:
    """Run ``job.config.workers`` workers (in this process when 1); return notes on workers
    that did not end cleanly."""
    workers = job.config.workers
    if workers == 1:
        run_worker(job)
        return []
    level = logger.getEffectiveLevel() if logger.handlers else None
    processes: list[BaseProcess] = []
    try:
        for i in range(workers):
            processes.append(parallel.spawn(worker_main, dataclasses.replace(job, index=i, log_level=level)))
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    return [
        f"worker {i + 1} (pid {p.pid}) ended with "
        + (f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit code {p.exitcode}")
        for i, p in enumerate(processes)
        if p.exitcode
    ]


def log_trials(enabled: bool, prefix: str = "lrlab: ") -> None:
    """For a command line: lines from ``lrlab.tune`` on stderr — one per trial when ``enabled``,
    else only warnings (failed trials and their causes) — and Optuna's own log limited to errors
    (lrlab says the same in its lines)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _log_to_stderr(logging.INFO if enabled else logging.WARNING, prefix)


def _log_to_stderr(level: int, prefix: str) -> None:
    """One handler of ours on ``logger``, writing to the ``sys.stderr`` of now (a handler made
    for an earlier command would write to its stream)."""
    for old in [h for h in logger.handlers if h.get_name() == STDERR_HANDLER]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(STDERR_HANDLER)
    handler.setFormatter(logging.Formatter(f"{prefix}%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def worker_main(job: Job, parent: int) -> None:
    """Entry point of a worker process started by process ``parent`` (it dies with it)."""
    parallel.enter_worker(parent)
    if job.log_level is not None:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        _log_to_stderr(job.log_level, f"lrlab: [worker {job.index + 1}] ")
    try:
        run_worker(job)
    except LrlabError as error:
        logger.error("%s", error)
        raise SystemExit(2) from None


def run_worker(job: Job) -> None:
    """Run trials of the study until it is full, the timeout passes, or trials keep failing."""
    with parallel.torch_threads(parallel.worker_threads(job.config.workers)), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _work(job)


def _work(job: Job) -> None:
    config, space = job.config, build_space(job.experiment)
    storage = open_storage(job.url, heartbeat=config.heartbeat)
    deterministic = config.workers == 1 and config.storage is None
    existing = len(storage.get_all_trials(storage.get_study_id_from_name(job.study_name), deepcopy=False))
    budget = budget_of(space, config)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=storage,
        sampler=make_sampler(
            config.sampler,
            seed=job.experiment.train.seed + existing if deterministic else None,
            space=space,
            trials=budget.planned_trials(),
            parallel=not deterministic,
        ),
        pruner=make_pruner(config.pruner, steps=job.experiment.train.epochs * max(1, config.cv)),
    )
    objective = Objective(space, job.folder, cv=config.cv, scaling=config.scaling(job.experiment))
    objective.splits()  # a dataset that cannot be loaded stops the worker, not each trial
    failures = 0
    while time.time() < job.deadline and not _wait_for_others(study, budget):
        trial = _one_trial(study, _guarded(objective, study, budget))
        if trial is None:
            continue
        over = trial.user_attrs.get(OVER_BUDGET, False)
        failed = trial.state == TrialState.FAIL and not over
        logger.log(logging.WARNING if failed else logging.INFO, "%s", describe_trial(study, trial))
        failures = failures + 1 if failed else 0
        if failures >= MAX_FAILURES:
            raise LrlabError(f"{MAX_FAILURES} trials in a row failed; the last one: {fail_reason(trial)}")


def _wait_for_others(study: optuna.Study, budget: Budget) -> bool:
    """Whether the study is done; while only running trials of other workers fill it (or hold
    the epochs left), wait for them to finish or go stale (then their retries are queued and
    this worker continues)."""
    while True:
        step = budget.next_step(study.get_trials(deepcopy=False))
        if step != "wait":
            return step == "stop"
        optuna.storages.fail_stale_trials(study)
        time.sleep(POLL_S)


def _guarded(objective: Objective, study: optuna.Study, budget: Budget) -> Callable[[optuna.Trial], float]:
    """``objective`` that first draws the trial's values, then runs it only if the study, as
    the trials numbered before it leave it, has room for it (else marks it ``over_budget``)."""

    def run(trial: optuna.Trial) -> float:
        experiment = objective.sample(trial)
        length = budget.lengths.of_experiment(experiment)
        refusal = budget.refusal(trial.number, length, study.get_trials(deepcopy=False))
        if refusal is not None:
            trial.set_user_attr(OVER_BUDGET, refusal)
            raise OverBudget(f"trial {trial.number} does not fit in the study's {refusal}")
        if trial.user_attrs.get(OVER_BUDGET):  # a retry copies the attributes of the killed trial
            trial.set_user_attr(OVER_BUDGET, None)
        return objective.train(trial, experiment)

    return with_fail_reason(run)


def with_fail_reason(objective: Callable[[optuna.Trial], float]) -> Callable[[optuna.Trial], float]:
    """``objective`` that stores why a trial fails (an error, or a value Optuna refuses) in the
    trial's user attribute ``fail_reason`` before Optuna marks it failed."""

    def run(trial: optuna.Trial) -> float:
        try:
            value = objective(trial)
        except (optuna.TrialPruned, OverBudget):
            raise
        except Exception as error:
            trial.set_user_attr(FAIL_REASON, one_line(error))
            raise
        if isinstance(value, float) and math.isnan(value):
            trial.set_user_attr(FAIL_REASON, "the trial's value is NaN (no epoch had a finite metric)")
        return value

    return run


def one_line(error: BaseException) -> str:
    """An error as one line: an :class:`LrlabError`'s message, else the type and first line."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if not isinstance(error, LrlabError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def fail_reason(trial: FrozenTrial) -> str:
    """Why ``trial`` failed, as recorded (a trial failed by the heartbeat check has no cause: its
    worker was killed)."""
    reason = trial.user_attrs.get(FAIL_REASON) or trial.system_attrs.get(FAIL_REASON)
    return str(reason) if reason else "no cause was recorded (its worker was killed?)"


def _one_trial(study: optuna.Study, objective: Callable[[optuna.Trial], float]) -> FrozenTrial | None:
    """Run one trial; ``None`` when the storage stayed locked (after a pause)."""
    done: list[FrozenTrial] = []
    try:
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda _, t: done.append(t)])
    except optuna.exceptions.StorageInternalError as error:
        logger.warning("the study storage is busy (%s); trying again", error.__cause__ or error)
        time.sleep(POLL_S * 5)
        return None
    return done[-1] if done else None


def describe_trial(study: optuna.Study, trial: FrozenTrial) -> str:
    """One line about a finished trial: state, value, epochs, time and parameters."""
    state = trial.state.name.lower()
    over = trial.user_attrs.get(OVER_BUDGET)
    if over == "epochs":
        return f"trial {trial.number}: not run, the study's epochs left cannot hold it"
    if over:
        return f"trial {trial.number}: not run, the study already has its trials"
    if trial.state == TrialState.FAIL:
        return f"trial {trial.number} failed: {fail_reason(trial)}"
    monitor = study.user_attrs.get("lrlab", {}).get("monitor", "value")
    parts = [
        f"trial {trial.number} {state}",
        f"{monitor} {trial.value:.4g}" if trial.value is not None else "",
    ]
    if "cv_std" in trial.user_attrs:
        parts[-1] += f" ± {trial.user_attrs['cv_std']:.2g}"
    parts.append(f"{trial.user_attrs.get('epochs', '?')} epochs")
    if trial.duration is not None:
        parts.append(f"{trial.duration.total_seconds():.1f} s")
    parts.append(", ".join(f"{name}={_short(value)}" for name, value in trial.params.items()))
    return " · ".join(part for part in parts if part)


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
