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

The runs and the plan are :mod:`lrlab.compare_runs`, the checks :mod:`lrlab.compare_checks`, the
trainers :mod:`lrlab.compare_pool`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from lrlab import parallel
from lrlab.compare_checks import check_runs_can_start, finished_runs
from lrlab.compare_pool import run_one, train_all
from lrlab.compare_runs import Plan, RunReport, RunSpec, RunWatcher, expand
from lrlab.config import Experiment, to_toml, validate
from lrlab.errors import invalid
from lrlab.namespaces import check_comparison_name, check_experiment_folder
from lrlab.record import write_text
from lrlab.record.files import EXPERIMENT_TOML
from lrlab.report import build_report
from lrlab.report.records import SUMMARY_CSV, VariantRow, aggregate, write_summary_csv
from lrlab.report.runs import load_runs
from lrlab.train.horizon import ScheduleHorizonWarning

__all__ = [
    "ComparisonResult",
    "Plan",
    "RunReport",
    "RunSpec",
    "RunWatcher",
    "compare",
    "expand",
    "plan",
    "run_one",
    "worker_count",
]


@dataclass(frozen=True)
class ComparisonResult:
    """The comparison directory, every run (in :func:`expand` order), the rows of ``summary.csv``
    and the HTML report (``None`` when not built)."""

    directory: Path
    runs: tuple[RunReport, ...]
    rows: tuple[VariantRow, ...]
    report: Path | None


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
    return parallel.capped(jobs, pending, flag=f"jobs={jobs}", unit="run", purpose="to train")


def compare(
    experiment: Experiment,
    *,
    out: str | Path = "runs",
    jobs: int = 1,
    seeds: int | None = None,
    progress: RunWatcher | None = None,
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
        report: build the HTML report (:func:`lrlab.report.build_report`).
        force: train again run folders that hold other settings (else an error).

    Raises:
        LrlabError: bad settings, a missing dataset, or run folders holding other settings.
    """
    planned = plan(experiment, out=out, jobs=jobs, seeds=seeds, force=force)
    count = len(planned.specs) // len({spec.variant for spec in planned.specs})
    resolved = validate({**experiment.model_dump(), "seeds": count})
    write_text(planned.directory / EXPERIMENT_TOML, to_toml(resolved))
    if progress is not None:
        progress.start(planned)
    reports = {
        folder: RunReport(spec, planned.done[folder], None, 0.0)
        for spec in planned.specs
        if (folder := spec.folder) in planned.done
    }
    for earlier in reports.values():
        if progress is not None:
            progress.finished(earlier)
    for trained in train_all(planned, progress):
        reports[trained.spec.folder] = trained
    runs = tuple(reports[spec.folder] for spec in planned.specs)
    rows = tuple(aggregate(load_runs(planned.directory)))
    write_summary_csv(rows, planned.directory / SUMMARY_CSV)
    page = build_report(planned.directory) if report else None
    return ComparisonResult(planned.directory, runs, rows, page)


def _check_jobs(jobs: int) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise invalid("jobs", "an integer >= 0 (0: one per CPU)", jobs)
