"""``lrlab tune`` under faults: SIGKILL of the main process of ``--workers 2`` leaves no worker
and closes its output, and the same command then finishes exactly the requested trials; a
failed trial says why, quiet or not; a storage path that is not a database is refused; the
workers are capped by the trials left to run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from lrlab.cli import main
from lrlab.config import load_experiment
from lrlab.tune.run import tune
from lrlab.tune.storage import check_url, default_url
from lrlab.tune.study import TuneConfig, worker_count
from tests.fault_plugins import GATE_ENV, gate_passed
from tests.procs import descendants, kill_all, survivors
from tests.tune.conftest import cli_env, tiny_toml

GATED = "tests.fault_plugins:gated_mlp"
GATE_STEP = 9 * 6 + 20  # digits, batch 128, 6 epochs: in each worker's second trial
COMPLETE, FAIL, RUNNING = (optuna.trial.TrialState[s] for s in ("COMPLETE", "FAIL", "RUNNING"))
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def trials_of(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=url).get_trials(deepcopy=False)


@linux_only
def test_a_killed_tune_leaves_no_worker_and_the_same_command_finishes_exactly_the_trials(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml(epochs=6, model=GATED), encoding="utf-8")
    out, gate = tmp_path / "runs", tmp_path / "gate"
    gate.mkdir()
    command = [sys.executable, "-m", "lrlab", "tune", str(path), "--workers", "2", "--trials", "6"]
    command += ["--heartbeat", "1", "--pruner", "none", "--no-report", "--quiet", "--out", str(out)]
    env = cli_env() | {GATE_ENV: f"{gate}:{GATE_STEP}"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url, workers = default_url(out / "tiny"), set[int]()
    try:
        deadline = time.monotonic() + 120
        while len(gate_passed(gate)) < 2:  # both workers are mid-trial
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the two workers were never seen training together"
            time.sleep(0.05)
        workers = descendants(process.pid)
        assert gate_passed(gate) <= workers
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=15)  # returns once every holder of the pipes has closed them
        assert len(workers) >= 2 and survivors(workers, within_s=5.0) == set()
    finally:
        process.kill()
        kill_all(workers)
    time.sleep(1.0)
    killed = {t.number: t for t in trials_of(url) if t.state == RUNNING}
    assert len(killed) == 2 and all(t.intermediate_values for t in killed.values())
    for trial in killed.values():  # nothing finished them after the kill
        assert not (out / "tiny" / trial.user_attrs["run_dir"] / "summary.json").exists()

    again = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    trials = trials_of(url)
    complete = [t for t in trials if t.state == COMPLETE]
    assert len(complete) == 6 and len({t.number for t in complete}) == 6
    for trial in complete:
        assert (out / "tiny" / trial.user_attrs["run_dir"] / "summary.json").is_file()
    for number, before in killed.items():  # failed by the heartbeat check and retried once
        assert trials[number].state == FAIL
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == number]
        assert [t.state for t in retries] == [COMPLETE] and retries[0].params == before.params


def test_a_failed_trial_says_why_even_when_quiet(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml(epochs=1, model="tests.fault_plugins:broken"), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "lrlab",
        "tune",
        str(path),
        "--trials",
        "4",
        "--workers",
        "1",
        "--quiet",
        "--no-report",
    ]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "runs")],
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    reason = "TypeError: 'int' object is not iterable"
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        *(f"lrlab: trial {n} failed: {reason}" for n in range(3)),
        f"lrlab: error: 3 trials in a row failed; the last one: {reason}",
    ]
    trials = trials_of(default_url(tmp_path / "runs" / "tiny"))
    assert [t.user_attrs["fail_reason"] for t in trials] == [reason] * 3


@pytest.mark.parametrize("content", [b"x", b"these are my notes, not a database\n" * 10])
def test_a_storage_file_that_is_not_a_database_is_refused_and_kept(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "notes.db"
    file.write_bytes(content)
    code = main(
        ["tune", "--storage", f"sqlite:///{file}", "--trials", "1", "--quiet", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    size = f"{len(content)} byte{'s' * (len(content) != 1)}"
    assert err.startswith(
        f"lrlab: error: the study storage {file} is not an SQLite database (a file of {size}"
    )
    assert file.read_bytes() == content
    empty = tmp_path / "empty.db"
    empty.touch()
    assert check_url(f"sqlite:///{empty}") == empty  # an empty file is an empty database


def test_workers_are_capped_by_the_trials_left_and_the_cli_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_toml(epochs=1), encoding="utf-8")
    args = ["tune", str(path), "--workers", "6", "--trials", "1", "--quiet", "--no-report"]
    code = main([*args, "--out", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == "lrlab: note: --workers 6 lowered to 1: 1 trial to run\n"
    assert "lowered" not in captured.out
    experiment = load_experiment(path)
    config = TuneConfig(trials=3, workers=2, report=False, out=tmp_path / "runs")
    assert worker_count(experiment, config) == (2, None)  # 2 trials left of 3
    result = tune(experiment, TuneConfig(trials=2, workers=2, report=False, out=tmp_path / "runs"))
    assert result.notes == ["--workers 2 lowered to 1: 1 trial to run"] and result.counts["complete"] == 2
