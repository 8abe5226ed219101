"""Several workers on one study: exactly the requested trials finish (none twice, none lost) with
SQLite and ``--workers 2`` and with two ``lrlab tune`` processes on PostgreSQL; a worker killed
with SIGKILL mid-trial has its trial retried; SQLite under contention waits, never fails."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from lrlab.cli import main
from lrlab.config import load_experiment
from lrlab.tune.run import tune
from lrlab.tune.storage import default_url, open_storage, with_installed_driver
from lrlab.tune.study import TuneConfig
from tests.tune.conftest import cli_env, tiny_toml

SLOW = "tests.train.plugins:slow_mlp"  # 10 ms per step: trials last long enough to overlap
COMPLETE, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL


def write(tmp_path: Path, epochs: int = 3) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml(epochs=epochs, model=SLOW), encoding="utf-8")
    return path


def load(url: str, name: str = "tiny") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=with_installed_driver(url))
    return study.get_trials(deepcopy=False)


def check_exact(trials: list[optuna.trial.FrozenTrial], count: int, folders: list[Path]) -> set[str]:
    """Exactly ``count`` complete trials, each once, each with its finished run directory;
    returns the workers that ran them."""
    complete = [t for t in trials if t.state == COMPLETE]
    assert len(complete) == count
    assert len({t.number for t in complete}) == count
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == count
    for trial in complete:
        found = [f / trial.user_attrs["run_dir"] / "summary.json" for f in folders]
        assert sum(path.is_file() for path in found) == 1, trial.number
    others = [t for t in trials if t.state != COMPLETE]
    assert all(t.state == FAIL and t.user_attrs.get("over_budget") for t in others), others
    return {t.user_attrs["worker"] for t in complete}


def test_two_local_workers_on_sqlite_finish_exactly_the_requested_trials(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path))
    config = TuneConfig(trials=8, workers=2, pruner="none", report=False, out=tmp_path / "runs")
    result = tune(experiment, config)
    assert result.counts["complete"] == 8 and not result.notes
    workers = check_exact(load(default_url(result.directory)), 8, [result.directory])
    assert len(workers) == 2  # both processes ran trials


def test_two_lrlab_tune_processes_share_a_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    path = write(tmp_path)
    command = [
        sys.executable,
        "-m",
        "lrlab",
        "tune",
        str(path),
        "--storage",
        postgres_url,
        "--study",
        "pg-tiny",
    ]
    command += ["--trials", "8", "--pruner", "none", "--quiet", "--no-report", "--workers", "1"]
    processes = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"machine{i}")], env=cli_env(), stdout=subprocess.PIPE
        )
        for i in (1, 2)
    ]
    outputs = [process.communicate(timeout=300)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    folders = [tmp_path / f"machine{i}" / "pg-tiny" for i in (1, 2)]
    workers = check_exact(load(postgres_url, "pg-tiny"), 8, folders)
    assert {worker.rpartition(":")[2] for worker in workers} == {str(p.pid) for p in processes}
    assert all("8 complete" in output or "complete" in output for output in outputs)


def _running_trial_of_a_worker(study: optuna.Study, parent: int) -> optuna.trial.FrozenTrial | None:
    """A trial a worker process is training, in its first half (so it cannot finish before the
    kill lands)."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", "")
        if 1 <= len(trial.intermediate_values) <= 5 and worker and int(worker.rpartition(":")[2]) != parent:
            return trial
    return None


def test_a_worker_killed_mid_trial_is_retried_and_no_completed_trial_is_lost(tmp_path: Path) -> None:
    path = write(tmp_path, epochs=10)
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "lrlab", "tune", str(path), "--workers", "2", "--trials", "6"]
    command += ["--heartbeat", "1", "--pruner", "none", "--no-report", "--quiet", "--out", str(out)]
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = default_url(out / "tiny")
    deadline, victim, study = time.monotonic() + 120, None, None
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        if study is None and (out / "tiny" / "experiment.toml").exists():  # the study exists
            study = optuna.load_study(study_name="tiny", storage=url)
        victim = None if study is None else _running_trial_of_a_worker(study, process.pid)
    assert victim is not None, "no worker was seen running a trial"
    os.kill(int(victim.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
    done_before = {t.number: t.value for t in load(url) if t.state == COMPLETE}
    out_text, err_text = (part.decode() for part in process.communicate(timeout=300))
    assert process.returncode == 0, err_text
    trials = load(url)
    killed = trials[victim.number]
    states = [(t.number, t.state.name, t.system_attrs.get("failed_trial")) for t in trials]
    assert killed.state == FAIL and not killed.user_attrs.get("over_budget"), (states, out_text)
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert [t.state for t in retries] == [COMPLETE] and retries[0].params == victim.params, states
    complete = [t for t in trials if t.state == COMPLETE]
    assert len(complete) == 6, states
    assert all(trials[number].value == value for number, value in done_before.items())  # none lost
    partial = out / "tiny" / victim.user_attrs["run_dir"]
    assert (partial / "metrics.csv").is_file() and not (partial / "summary.json").exists()
    assert "ended with signal 9" in out_text


def test_sqlite_waits_for_a_held_lock_instead_of_failing(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    storage = open_storage(url, heartbeat=5)
    study = optuna.create_study(study_name="locked", storage=storage)
    database = tmp_path / "study.db"
    assert sqlite3.connect(database).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    held = threading.Event()

    def hold_the_lock() -> None:
        connection = sqlite3.connect(database, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(1.5)
        connection.execute("COMMIT")
        connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait()
    began = time.monotonic()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    holder.join()
    assert time.monotonic() - began > 1.0 and len(study.trials) == 3
    assert all(t.state == COMPLETE for t in study.trials)


HAMMER = """
import sys, optuna
from lrlab.tune.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
storage = open_storage(sys.argv[1], heartbeat=5)
study = optuna.load_study(study_name="hammer", storage=storage)
study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=20)
"""


def test_three_processes_hammering_one_sqlite_file_never_see_database_is_locked(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    optuna.create_study(study_name="hammer", storage=open_storage(url, heartbeat=5))
    processes = [
        subprocess.Popen([sys.executable, "-c", HAMMER, url], env=cli_env(), stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [process.communicate(timeout=300)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 3, errors
    assert not any("locked" in error for error in errors)
    trials = load(url, "hammer")
    assert len(trials) == 60 and sorted(t.number for t in trials) == list(range(60))
    assert all(t.state == COMPLETE for t in trials)


def test_an_unreachable_database_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://nobody:secret@127.0.0.1:1/none"
    code = main(["tune", "--storage", url, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(
        "lrlab: error: cannot open the study storage postgresql://nobody:***@"
    )
    assert err.count("\n") == 1 and "secret" not in err
