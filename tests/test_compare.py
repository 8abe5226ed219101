"""``lrlab.compare``: expansion into runs, parallel workers that give the same numbers as one
process, skipping finished runs, checks before training, and ``summary.csv`` aggregates."""

from __future__ import annotations

import csv
import json
import os
import statistics
from pathlib import Path
from typing import Any

import pytest

import lrlab.compare
from lrlab.compare import ComparisonResult, Plan, RunReport, compare, expand, plan
from lrlab.config import Experiment, validate
from lrlab.errors import LrlabError
from lrlab.report.records import SUMMARY_COLUMNS as COLUMNS
from tests.compare_plugins import RENDEZVOUS_ENV

DATASET = "synthetic-classification(n=1000)"  # torch only: workers start without scikit-learn
WALL_TIME = {"time_s", "samples_per_s", "wall_time_s", "train_time_s"}


def experiment(**changes: Any) -> Experiment:
    data: dict[str, Any] = {
        "name": "cmp",
        "seeds": 2,
        "task": {"dataset": DATASET, "model": "mlp(widths=[16])"},
        "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "interval": "epoch", "seed": 10},
        "variant": [
            {"name": "constant"},
            {"name": "decay", "schedule": "multistep(milestones=[1], gamma=0.5)", "optimizer": {"lr": 0.2}},
        ],
    }
    data.update(changes)
    return validate(data)


class Recorder:
    """A progress that keeps what it is told."""

    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.runs: list[RunReport] = []

    def start(self, plan: Plan) -> None:
        self.plans.append(plan)

    def finished(self, run: RunReport) -> None:
        assert self.plans, "start comes first"
        self.runs.append(run)


def without_wall_time(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_wall_time(v) for k, v in value.items() if k not in WALL_TIME}
    return value


def metric_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open(encoding="utf-8") as file:
        return [without_wall_time(row) for row in csv.DictReader(file)]


def outcome(result: ComparisonResult) -> dict[str, Any]:
    """Everything a run produced but its timings, by run folder."""
    return {
        str(run.spec.folder): (
            without_wall_time(run.summary),
            metric_rows(result.directory / run.spec.folder),
        )
        for run in result.runs
    }


def test_expand_makes_variant_by_seed_runs_seed_by_seed() -> None:
    specs = expand(experiment(), 3)
    assert [(s.variant, s.index) for s in specs] == [
        (variant, k) for k in range(3) for variant in ("constant", "decay")
    ]
    assert [s.experiment.train.seed for s in specs] == [10, 10, 11, 11, 12, 12]
    assert [str(s.folder) for s in specs[:2]] == ["runs/constant/seed0", "runs/decay/seed0"]
    decay = specs[1].experiment
    assert decay.optimizer.lr == 0.2 and decay.schedule.startswith("multistep")
    assert decay.variant == [] and decay.seeds == 1
    assert len(expand(experiment())) == 4  # the experiment's own seeds
    assert [s.variant for s in expand(experiment(variant=[]))] == ["base", "base"]
    with pytest.raises(LrlabError, match="seeds must be an integer"):
        expand(experiment(), 0)


def test_two_jobs_run_in_two_processes_and_match_one_job_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RENDEZVOUS_ENV, str(tmp_path / "rendezvous"))
    (tmp_path / "rendezvous").mkdir()
    settings = experiment(task={"dataset": DATASET, "model": "tests.compare_plugins:rendezvous_mlp"})
    seen = Recorder()
    parallel = compare(settings, out=tmp_path / "two", jobs=2, progress=seen, report=False)
    pids = {run.pid for run in parallel.runs}
    assert len(pids) == 2 and os.getpid() in pids  # this process trains beside one worker
    assert seen.plans[0].workers == 2 and len(seen.plans[0].pending) == 4
    assert sorted(str(r.spec.folder) for r in seen.runs) == sorted(str(r.spec.folder) for r in parallel.runs)
    serial = compare(settings, out=tmp_path / "one", jobs=1, report=False)
    assert {run.pid for run in serial.runs} == {os.getpid()}
    assert outcome(parallel) == outcome(serial)
    assert parallel.rows[0].stats["final_val_acc"] == serial.rows[0].stats["final_val_acc"]


def test_the_directory_holds_the_experiment_runs_and_summary(tmp_path: Path) -> None:
    result = compare(experiment(), out=tmp_path, report=False)
    folder = tmp_path / "cmp"
    assert result.directory == folder and result.report is None
    assert (folder / "experiment.toml").read_text(encoding="utf-8").count("[[variant]]") == 2
    for variant in ("constant", "decay"):
        for k in (0, 1):
            run = folder / "runs" / variant / f"seed{k}"
            names = {"config.json", "metrics.csv", "checkpoint.pt", "best.pt", "summary.json"}
            assert names <= {path.name for path in run.iterdir()}
            recorded = json.loads((run / "config.json").read_text(encoding="utf-8"))["experiment"]
            assert recorded["train"]["seed"] == 10 + k and recorded["variant"] == []


def test_summary_csv_is_the_mean_and_std_of_the_runs_summaries(tmp_path: Path) -> None:
    compare(experiment(seeds=3), out=tmp_path, report=False)
    with (tmp_path / "cmp" / "summary.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == COLUMNS and [row["variant"] for row in rows] == ["constant", "decay"]
    for row in rows:
        runs = tmp_path / "cmp" / "runs" / row["variant"]
        summaries = [json.loads((runs / f"seed{k}" / "summary.json").read_text()) for k in range(3)]
        assert int(row["runs"]) == 3 and row["status"] == "finished"
        expected = {
            "final_val_acc": [s["final"]["val_acc"] for s in summaries],
            "best_val_loss": [s["best"]["val_loss"] for s in summaries],
            "best_epoch": [s["best"]["epoch"] for s in summaries],
            "test_acc": [s["test"]["test_acc"] for s in summaries],
            "seconds": [s["train_time_s"] for s in summaries],
        }
        for name, values in expected.items():
            assert float(row[f"{name}_mean"]) == pytest.approx(statistics.fmean(values), rel=1e-12, abs=0)
            assert float(row[f"{name}_std"]) == pytest.approx(statistics.stdev(values), rel=1e-12, abs=1e-15)


def test_finished_runs_are_skipped_and_a_started_one_resumes(tmp_path: Path) -> None:
    first = compare(experiment(seeds=1), out=tmp_path, report=False)
    done = tmp_path / "cmp" / "runs" / "constant" / "seed0" / "summary.json"
    before = done.stat()
    # a started run: seed1 of "decay" killed after its first epoch (simulated by a 1-epoch run)
    half = compare(
        experiment(seeds=2, train={**experiment().train.model_dump(), "epochs": 1}),
        out=tmp_path / "h",
        report=False,
    )
    started = tmp_path / "cmp" / "runs" / "decay" / "seed1"
    started.parent.mkdir(parents=True, exist_ok=True)
    source = half.directory / "runs" / "decay" / "seed1"
    started.mkdir()
    for name in ("metrics.csv", "checkpoint.pt", "best.pt"):
        (started / name).write_bytes((source / name).read_bytes())
    seen = Recorder()
    again = compare(experiment(seeds=2), out=tmp_path, progress=seen, report=False)
    assert [str(r.spec.folder) for r in seen.runs if r.skipped] == [str(r.spec.folder) for r in first.runs]
    assert len(seen.plans[0].done) == 2 and len(seen.plans[0].pending) == 2
    assert done.stat().st_mtime_ns == before.st_mtime_ns and done.stat().st_ino == before.st_ino
    assert all((again.directory / run.spec.folder / "summary.json").is_file() for run in again.runs)
    resumed = json.loads((started / "summary.json").read_text())
    assert resumed["epochs"] == 2 and len(metric_rows(started)) == 2
    assert [len(row.seeds) for row in again.rows] == [2, 2]


def test_run_folders_with_other_settings_are_refused_before_training(tmp_path: Path) -> None:
    compare(experiment(seeds=1), out=tmp_path, report=False)
    changed = experiment(seeds=1, optimizer={"lr": 0.05})
    with pytest.raises(LrlabError, match=r"holds a run with other settings \(optimizer\.lr: 0\.1 → 0\.05\)"):
        compare(changed, out=tmp_path, report=False)


def test_missing_data_and_models_that_do_not_fit_fail_before_any_folder(tmp_path: Path) -> None:
    missing = experiment(
        task={"dataset": f'idx(images="{tmp_path}/no.gz", labels="{tmp_path}/no-l.gz", test_size=9)'}
    )
    with pytest.raises(LrlabError, match="does not exist"):
        compare(missing, out=tmp_path / "out", report=False)
    # LeNet needs images; the synthetic task has 1-D inputs
    lenet = experiment(variant=[{"name": "small"}, {"name": "lenet", "task": {"model": "lenet"}}])
    with pytest.raises(LrlabError, match="variant 'lenet': "):
        compare(lenet, out=tmp_path / "out", report=False)
    with pytest.raises(LrlabError, match="jobs must be an integer >= 0"):
        compare(experiment(), out=tmp_path / "out", jobs=-1, report=False)
    assert not (tmp_path / "out").exists()
    assert plan(experiment(), out=tmp_path / "out").workers == 1 and not (tmp_path / "out").exists()


def test_the_report_is_built_after_the_summary_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def build_report(directory: Path) -> Path:
        calls.append(directory)
        assert (directory / "summary.csv").is_file()  # the runs and the summary come first
        return directory / "report.html"

    monkeypatch.setattr(lrlab.compare, "build_report", build_report)
    result = compare(experiment(seeds=1, train={"epochs": 1, "device": "cpu"}), out=tmp_path)
    assert calls == [tmp_path / "cmp"] and result.report == tmp_path / "cmp" / "report.html"
    compare(experiment(seeds=1, train={"epochs": 1, "device": "cpu"}), out=tmp_path, report=False)
    assert len(calls) == 1
