"""``tune``: an experiment and its search space → an Optuna study in a study directory.

The study directory is ``<out>/<study name>/`` (``out`` defaults to ``runs/tune``, the name to
the experiment's; a study name is a plain folder name, see :mod:`lrlab.namespaces`)::

    experiment.toml   the experiment with its [search] table
    study.db          the Optuna study (SQLite; absent with --storage URL)
    trials/<n>/       one run directory per trial (fold<k>/ inside with --cv K)
    best.toml         the best trial's configuration: `lrlab train best.toml` trains it
    final/            with --final: the best configuration retrained on train + validation
    trials.csv, report.html, figures/   the study as a table and a page

``trials`` counts finished (complete or pruned) trials of the whole study: running the same
command again continues a stopped study up to that number, and a larger ``--trials`` extends
it. Samplers and pruners are Optuna's, chosen by name (:func:`make_sampler`,
:func:`make_pruner`) and passed through unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna

from lrlab.config import Experiment, to_toml
from lrlab.errors import LrlabError, invalid, unknown
from lrlab.namespaces import TUNE_OUT, check_experiment_folder, check_name
from lrlab.record import write_text
from lrlab.train.monitor import resolve_mode
from lrlab.tune.space import LrScaling, SearchSpace, build_space
from lrlab.tune.storage import check_url, default_url, open_storage, sqlite_path

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp")
PRUNERS = ("asha", "hyperband", "median", "none")
REDUCTION = 3  # successive halving keeps 1/REDUCTION of the trials at each rung
EXPERIMENT = "experiment.toml"


@dataclass(frozen=True)
class TuneConfig:
    """How to run a study; every field is a ``lrlab tune`` flag (checked on construction)."""

    trials: int = 30
    timeout: float | None = None
    workers: int = 1
    storage: str | None = None
    study: str | None = None
    sampler: str = "tpe"
    pruner: str = "asha"
    cv: int = 0
    lr_scaling: str | None = None
    reference_batch_size: int | None = None
    heartbeat: int = 10
    final: bool = False
    out: str | Path = TUNE_OUT
    report: bool = True
    force: bool = False  # replace another experiment's experiment.toml in the study folder

    def __post_init__(self) -> None:
        if self.study is not None:
            check_name(self.study, "--study")
        _integer("--trials", self.trials, 1)
        _integer("--workers", self.workers, 1)
        _integer("--heartbeat", self.heartbeat, 1)
        if self.timeout is not None and not (isinstance(self.timeout, int | float) and self.timeout > 0):
            raise invalid("--timeout", "a number of seconds > 0", self.timeout)
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv == 1 or self.cv < 0:
            raise invalid("--cv", "0 (a validation split) or a number of folds >= 2", self.cv)
        if self.sampler not in SAMPLERS:
            raise unknown("sampler", self.sampler, SAMPLERS)
        if self.pruner not in PRUNERS:
            raise unknown("pruner", self.pruner, PRUNERS)
        if self.lr_scaling not in (None, "linear", "sqrt"):
            raise invalid("--lr-scaling", "'linear' or 'sqrt'", self.lr_scaling)
        if self.reference_batch_size is not None:
            _integer("--reference-batch-size", self.reference_batch_size, 1)
            if self.lr_scaling is None:
                raise LrlabError("--reference-batch-size needs --lr-scaling linear or sqrt.")

    def scaling(self, experiment: Experiment) -> LrScaling | None:
        """The LR scaling rule, its reference batch size defaulting to the experiment's."""
        if self.lr_scaling is None:
            return None
        reference = self.reference_batch_size or experiment.train.batch_size
        return LrScaling(self.lr_scaling, reference)  # type: ignore[arg-type]


def _integer(flag: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise invalid(flag, f"an integer >= {least}", value)


@dataclass(frozen=True)
class TuneResult:
    """What a study holds when ``tune`` returns; ``best`` is ``None`` when no trial completed."""

    directory: Path
    study_name: str
    storage: str
    counts: dict[str, int]
    best: optuna.trial.FrozenTrial | None
    monitor: str
    best_toml: Path | None = None
    report: Path | None = None
    final: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def make_sampler(
    name: str, *, seed: int | None, space: SearchSpace, trials: int, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """Optuna's sampler ``name``: ``tpe`` (multivariate, grouped for conditional spaces; the
    default), ``random``, ``grid`` (every value of a space of choices, integers and stepped
    ranges), ``cmaes`` or ``gp``."""
    if name not in SAMPLERS:
        raise unknown("sampler", name, SAMPLERS)
    with warnings.catch_warnings():  # multivariate/group TPE and GP are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            startup = max(5, min(10, trials // 3))
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, n_startup_trials=startup, constant_liar=parallel
            )
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return optuna.samplers.GridSampler(grid_of(space), seed=seed)
        try:
            if name == "cmaes":
                return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
            return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        except ImportError as error:  # optional packages of these samplers (cmaes, scipy)
            raise LrlabError(f"--sampler {name} needs a package that is missing: {error}") from None


def grid_of(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of each parameter, for the grid sampler (choices, integers, stepped ranges)."""
    grid: dict[str, list[Any]] = {}
    for param in space.params:
        distribution, name = param.distribution, param.name
        if distribution.kind == "choice":
            grid[name] = list(distribution.choices)
        elif distribution.step is not None or distribution.kind == "int":
            step = distribution.step or 1
            count = math.floor((distribution.high - distribution.low) / step + 1e-9) + 1
            values = [distribution.low + i * step for i in range(count)]
            grid[f"1-{name}" if distribution.complement else name] = values
        else:
            raise LrlabError(
                f"--sampler grid needs a finite set of values, but search.{param.key} is "
                f"{distribution}; write it as choice(…) or uniform(a, b, step=s)."
            )
    return grid


def make_pruner(name: str, *, steps: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner ``name`` for trials of ``steps`` reported steps (epochs × folds):
    ``asha`` (successive halving, the default), ``hyperband``, ``median`` or ``none``.

    ASHA and the median rule first judge a trial at :func:`first_rung` (half of its steps):
    early epochs say little about the end (a network may sit on a plateau before it learns, a
    warmup or a high LR not yet decayed hides where a trial ends), while a rung at half still
    halves the cost of every trial it stops. ASHA keeps a third of the trials at each rung;
    Hyperband hedges over its brackets from a quarter of the steps. No pruner is asked at a
    trial's last step (:class:`~lrlab.tune.objective.TrialReporter`)."""
    first = first_rung(steps)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=REDUCTION)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, steps // 4), max_resource=steps, reduction_factor=REDUCTION
        )
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise unknown("pruner", name, PRUNERS)


def first_rung(steps: int) -> int:
    """The first step at which a trial of ``steps`` steps may be pruned: half of them, rounded
    up (epoch 2 of 3, 10 of 20)."""
    return max(1, math.ceil(steps / 2))


def direction(experiment: Experiment) -> Literal["minimize", "maximize"]:
    """``maximize`` for an accuracy-like monitor, else ``minimize`` (as early stopping decides)."""
    stopping = experiment.early_stopping
    return "maximize" if resolve_mode(stopping.monitor, stopping.mode) == "max" else "minimize"


def study_folder(experiment: Experiment, config: TuneConfig) -> tuple[str, Path, str]:
    """The study's name, directory and storage URL."""
    name = config.study or experiment.name
    folder = Path(config.out).expanduser() / name
    return name, folder, config.storage or default_url(folder)


def open_study(
    experiment: Experiment, config: TuneConfig, space: SearchSpace, *, seed: int | None = None
) -> optuna.Study:
    """Create the study, or load it when it exists and searches the same space."""
    name, _, url = study_folder(experiment, config)
    storage = open_storage(url, heartbeat=config.heartbeat)
    steps = experiment.train.epochs * max(1, config.cv)
    sampler = make_sampler(
        config.sampler, seed=seed, space=space, trials=config.trials, parallel=_parallel(config)
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        pruner=make_pruner(config.pruner, steps=steps),
        direction=direction(experiment),
        load_if_exists=True,
    )
    _check_same_study(study, experiment, space, config)
    return study


def _parallel(config: TuneConfig) -> bool:
    return config.workers > 1 or config.storage is not None


def _check_same_study(
    study: optuna.Study, experiment: Experiment, space: SearchSpace, config: TuneConfig
) -> None:
    """A study is continued only with the same space, monitor and cross-validation."""
    identity = {"space": space.describe(), "monitor": experiment.early_stopping.monitor, "cv": config.cv}
    stored = study.user_attrs.get("lrlab")
    if stored is None:
        study.set_user_attr("lrlab", identity)
        return
    for key, value in identity.items():
        if stored.get(key) != value:
            shown = "search space" if key == "space" else f"{key} ({stored.get(key)!r}, now {value!r})"
            raise LrlabError(
                f"study {study.study_name!r} was run with another {shown}; continue it with the same "
                "experiment and flags, or start a new study with --study NAME."
            )


def check(experiment: Experiment, config: TuneConfig) -> SearchSpace:
    """Every check that needs no training, done before anything is written; returns the space.

    Raises:
        LrlabError: a bad space, no held-out data, a bad storage URL, a grid of ranges.
    """
    space = build_space(experiment)
    plugin = experiment.task.plugin
    if plugin is not None and (config.cv or config.final):
        flag = f"--cv {config.cv}" if config.cv else "--final"
        raise LrlabError(
            f"{flag} splits or merges a dataset of lrlab's; the task plug-in {plugin!r} makes its own "
            f"splits. Leave out {flag} (train the best with lrlab train best.toml)."
        )
    if config.cv == 0 and experiment.task.val_fraction == 0:
        raise LrlabError(
            "tuning needs held-out data: set task.val_fraction > 0 (e.g. --val-fraction 0.1) or "
            "cross-validate with --cv K; the test split is never used to choose."
        )
    if config.storage is not None:
        check_url(config.storage)
    folder = study_folder(experiment, config)[1]
    # the search space, monitor and folds are the study's own check (open_study)
    check_experiment_folder(folder, experiment, command="tune", force=config.force, ignore=("search",))
    if config.sampler == "grid":
        grid_of(space)  # refuses continuous distributions
    return space


def trial_budget(space: SearchSpace, config: TuneConfig) -> int:
    """The finished trials the study needs: ``trials``, at most the grid's size with ``grid``."""
    if config.sampler != "grid":
        return config.trials
    return min(config.trials, math.prod(len(values) for values in grid_of(space).values()))


def worker_count(experiment: Experiment, config: TuneConfig) -> tuple[int, str | None]:
    """The local worker processes ``config.workers`` becomes: at most one per CPU and one per
    trial still to run (the study's finished trials count), at least 1; and why it was lowered,
    if it was. Reads the study when it exists; writes nothing."""
    left = trial_budget(build_space(experiment), config) - _finished_trials(experiment, config)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = max(1, min(config.workers, cpus, left))
    if workers >= config.workers or left <= 0:
        return workers, None
    limits = [f"{cpus} CPU{'s' * (cpus != 1)}"] if cpus == workers else []
    limits += [f"{left} trial{'s' * (left != 1)} to run"] if left == workers else []
    return workers, f"--workers {config.workers} lowered to {workers}: {' and '.join(limits)}"


def _finished_trials(experiment: Experiment, config: TuneConfig) -> int:
    name, _, url = study_folder(experiment, config)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return 0
    storage = open_storage(url, heartbeat=config.heartbeat)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(storage.get_all_trials(study_id, deepcopy=False, states=finished))


def tune(experiment: Experiment, config: TuneConfig) -> TuneResult:
    """Run the study of ``experiment`` to ``config.trials`` finished trials (or its timeout),
    then write best.toml, the final retrain (``config.final``) and the report. Each finished
    trial is logged (INFO) to the ``lrlab.tune`` logger, by worker processes too; a failed one
    (WARNING) with its cause. ``config.workers`` is lowered as :func:`worker_count` says (the
    result's notes say so).

    Raises:
        LrlabError: a bad setting or space (before any training), or a study that differs.
    """
    from lrlab.tune.export import finish
    from lrlab.tune.workers import Job, run_workers

    deadline = time.time() + config.timeout if config.timeout else math.inf
    space = check(experiment, config)
    name, folder, url = study_folder(experiment, config)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        open_study(experiment, config, space)  # creates it once, before any worker starts
    write_text(folder / EXPERIMENT, to_toml(experiment))
    workers, lowered = worker_count(experiment, config)
    job = Job(
        experiment=experiment,
        config=dataclasses.replace(config, workers=workers),
        folder=folder,
        url=url,
        study_name=name,
        deadline=deadline,
    )
    notes = run_workers(job)
    return finish(job, space, [lowered, *notes] if lowered else notes)
