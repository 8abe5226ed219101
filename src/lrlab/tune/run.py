"""``tune``: an experiment and its search space → an Optuna study in a study directory.

The study directory is ``<out>/<study name>/`` (``out`` defaults to ``runs/tune``, the name to
the experiment's; a study name is a plain folder name, see :mod:`lrlab.namespaces`)::

    experiment.toml   the experiment with its [search] table
    study.db          the Optuna study (SQLite; absent with --storage URL)
    trials/<n>/       one run directory per trial (fold<k>/ inside with --cv K)
    best.toml         the best trial's configuration: `lrlab train best.toml` trains it
    final/            with --final: the best configuration retrained on train + validation
    trials.csv, report.html, figures/   the study as a table and a page

``trials`` counts finished (complete or pruned) trials of the whole study, ``budget_epochs``
its training epochs (all its trials', pruned and failed ones included): running the same
command again continues a stopped study up to these limits, and larger ones extend it.
Samplers and pruners are Optuna's, chosen by name (:mod:`lrlab.tune.samplers`) and passed
through unchanged. The study is opened and checked by :mod:`lrlab.tune.study`, its trials run by
:mod:`lrlab.tune.workers`, and what it found written by :mod:`lrlab.tune.export`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import optuna

from lrlab.config import Experiment, to_toml
from lrlab.record import write_text
from lrlab.record.files import EXPERIMENT_TOML
from lrlab.tune.export import TuneResult, finish
from lrlab.tune.study import TuneConfig, check, open_study, study_folder, worker_count
from lrlab.tune.workers import Job, run_workers


def tune(experiment: Experiment, config: TuneConfig) -> TuneResult:
    """Run the study of ``experiment`` to its limits (``config.trials`` finished trials,
    ``config.budget_epochs`` training epochs: :func:`~lrlab.tune.study.limits`) or its timeout,
    then write best.toml, the final retrain (``config.final``) and the report. Each finished
    trial is logged (INFO) to the ``lrlab.tune`` logger, by worker processes too; a failed one
    (WARNING) with its cause. ``config.workers`` is lowered as
    :func:`~lrlab.tune.study.worker_count` says (the result's notes say so).

    Raises:
        LrlabError: a bad setting or space (before any training), or a study that differs.
    """
    deadline = time.time() + config.timeout if config.timeout else math.inf
    space = check(experiment, config)
    name, folder, url = study_folder(experiment, config)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        open_study(experiment, config, space)  # creates it once, before any worker starts
    write_text(folder / EXPERIMENT_TOML, to_toml(experiment))
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
