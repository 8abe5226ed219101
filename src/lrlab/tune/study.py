"""A study: its settings (:class:`TuneConfig`, one per ``lrlab tune`` flag), its folder and
storage, opening (or continuing) it, the checks done before anything is written, its limits
(``--trials`` finished trials, ``--budget-epochs`` training epochs: :func:`limits`, accounted by
:mod:`lrlab.tune.budget`) and how many local workers it still needs. :func:`lrlab.tune.run.tune`
runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import optuna

from lrlab import parallel
from lrlab.config import Experiment
from lrlab.errors import LrlabError, invalid, unknown
from lrlab.namespaces import TUNE_OUT, check_experiment_folder, check_name
from lrlab.scaling import ScalingRule
from lrlab.train.monitor import resolve_mode
from lrlab.tune.budget import Budget, Lengths, Limits
from lrlab.tune.defaults import DEFAULT_TRIALS
from lrlab.tune.samplers import PRUNERS, SAMPLERS, grid_of, make_pruner, make_sampler
from lrlab.tune.space import SearchSpace, build_space
from lrlab.tune.storage import check_url, default_url, open_storage, sqlite_path


@dataclass(frozen=True)
class TuneConfig:
    """How to run a study; every field is a ``lrlab tune`` flag (checked on construction)."""

    trials: int | None = None  # None: DEFAULT_TRIALS, or none with budget_epochs (see limits)
    budget_epochs: int | None = None
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
        for flag, limit in (("--trials", self.trials), ("--budget-epochs", self.budget_epochs)):
            if limit is not None:
                _integer(flag, limit, 1)
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

    def scaling(self, experiment: Experiment) -> ScalingRule | None:
        """The LR scaling rule, its reference batch size defaulting to the experiment's."""
        if self.lr_scaling is None:
            return None
        reference = self.reference_batch_size or experiment.train.batch_size
        return ScalingRule(self.lr_scaling, reference)  # type: ignore[arg-type]


def _integer(flag: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise invalid(flag, f"an integer >= {least}", value)


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
    trials = budget_of(space, config).planned_trials()
    sampler = make_sampler(config.sampler, seed=seed, space=space, trials=trials, parallel=_parallel(config))
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
        LrlabError: a bad space, no held-out data, a bad storage URL, a grid of ranges, an
            epoch budget that holds no trial.
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
    if config.budget_epochs is not None:
        _check_budget(space, config.budget_epochs, config.cv)
    return space


def _check_budget(space: SearchSpace, epochs: int, cv: int) -> None:
    """An epoch budget must hold a trial, and counts epochs, not updates (``train.steps``)."""
    if space.base.train.steps is not None or space.searches("train.steps"):
        raise LrlabError(
            "--budget-epochs counts epochs, but train.steps sets each trial's length in updates; "
            "leave out one of them."
        )
    shortest = Lengths.of(space, cv).fewest
    if epochs < shortest:
        raise LrlabError(
            f"--budget-epochs {epochs} is less than one trial's {shortest} epochs (train.epochs × "
            f"folds); give at least {shortest}."
        )


def limits(space: SearchSpace, config: TuneConfig) -> Limits:
    """The study's limits: ``--trials`` (:data:`DEFAULT_TRIALS` when neither it nor
    ``--budget-epochs`` is given, none when only the budget is), at most the grid's size with
    ``grid``; and ``--budget-epochs``. The study stops at whichever it reaches first."""
    trials = config.trials
    if trials is None and config.budget_epochs is None:
        trials = DEFAULT_TRIALS
    if config.sampler == "grid":
        size = math.prod(len(values) for values in grid_of(space).values())
        trials = size if trials is None else min(trials, size)
    return Limits(trials, config.budget_epochs)


def budget_of(space: SearchSpace, config: TuneConfig) -> Budget:
    """The study's :func:`limits` and its trials' lengths (``train.epochs × folds``)."""
    return Budget(limits(space, config), Lengths.of(space, config.cv))


def worker_count(experiment: Experiment, config: TuneConfig) -> tuple[int, str | None]:
    """The local worker processes ``config.workers`` becomes: at most one per CPU and one per
    trial still to run (what the study's trials have left of its limits), at least 1; and why
    it was lowered, if it was. Reads the study when it exists; writes nothing."""
    left = budget_of(build_space(experiment), config).trials_left(_stored_trials(experiment, config))
    flag = f"--workers {config.workers}"
    return parallel.capped(config.workers, left, flag=flag, unit="trial", purpose="to run")


def _stored_trials(experiment: Experiment, config: TuneConfig) -> list[optuna.trial.FrozenTrial]:
    name, _, url = study_folder(experiment, config)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return []
    storage = open_storage(url, heartbeat=config.heartbeat)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return []
    return storage.get_all_trials(study_id, deepcopy=False)
