"""``lrlab compare --jobs N`` under faults: SIGKILL of the main process leaves no worker alive
and closes its output; the same command then trains every run exactly once and ends as an
uninterrupted comparison. Also: a run is trained by one process at a time (a run that finished
meanwhile counts as done), and ``--jobs`` is capped by the CPUs and the pending runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lrlab import runlock
from lrlab.cli import main
from lrlab.compare import compare, expand, plan, run_one, worker_count
from lrlab.config import load_experiment
from lrlab.errors import LrlabError
from tests.fault_plugins import GATE_ENV, gate_passed
from tests.procs import descendants, kill_all, survivors
from tests.test_compare import experiment as small_experiment
from tests.test_compare import metric_rows, without_wall_time

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 6
EXPERIMENT = f"""
name = "ck"
seeds = 2
[task]
dataset = "digits"
model = "tests.fault_plugins:gated_mlp"
val_fraction = 0.2
[train]
epochs = {EPOCHS}
batch_size = 64
device = "cpu"
[[variant]]
name = "constant"
[[variant]]
name = "decay"
schedule = "multistep(milestones=[3], gamma=0.5)"
"""
GATE_STEP = 18 * EPOCHS + 30  # the second run of each trainer, after its first epoch
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def command(path: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lrlab",
        "compare",
        str(path),
        "--jobs",
        "2",
        "--no-report",
        "--out",
        str(out),
        *extra,
    ]


def comparable(directory: Path, folder: str) -> tuple[Any, Any]:
    import json

    summary = json.loads((directory / folder / "summary.json").read_text(encoding="utf-8"))
    return without_wall_time(summary), metric_rows(directory / folder)


@linux_only
def test_a_killed_comparison_leaves_no_worker_and_resumes_to_the_uninterrupted_results(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ck.toml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    out, gate = tmp_path / "killed", tmp_path / "gate"
    gate.mkdir()
    process = subprocess.Popen(
        command(path, out, "--quiet"),
        env=environment() | {GATE_ENV: f"{gate}:{GATE_STEP}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(gate_passed(gate)) < 2:  # both trainers are mid-run (in their second run)
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the two trainers were never seen training together"
            time.sleep(0.02)
        workers = descendants(process.pid)
        assert gate_passed(gate) - {process.pid} <= workers and len(workers) >= 2  # a worker, a tracker
        process.send_signal(signal.SIGKILL)
        began = time.monotonic()
        process.communicate(timeout=15)  # returns once every holder of the pipes has closed them
        closed = time.monotonic() - began
        assert survivors(workers, within_s=5.0) == set()
    finally:
        process.kill()
        kill_all(workers)
    assert process.returncode == -signal.SIGKILL and closed < 10.0
    started = [folder for folder in (out / "ck").glob("runs/*/seed*") if (folder / "checkpoint.pt").exists()]
    assert len([folder for folder in started if not (folder / "summary.json").exists()]) == 2
    finished_before = {
        str(p.parent.relative_to(out / "ck")) for p in (out / "ck").glob("runs/*/seed*/summary.json")
    }
    assert len(finished_before) == 2  # each trainer finished one run and was killed in the next

    again = subprocess.run(
        command(path, out), env=environment(), capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    lines = re.findall(r"\] (\w+ seed\d): .*· (trained before|[\d.]+ s)$", again.stderr, re.M)
    assert sorted(run for run, _ in lines) == sorted(
        f"{v} seed{k}" for v in ("constant", "decay") for k in (0, 1)
    )
    assert {run.replace(" ", "/") for run, when in lines if when == "trained before"} == {
        folder.removeprefix("runs/") for folder in finished_before
    }
    reference = compare(load_experiment(path), out=tmp_path / "reference", jobs=1, report=False)
    for run in reference.runs:
        folder = str(run.spec.folder)
        rows = metric_rows(out / "ck" / folder)
        assert [int(row["epoch"]) for row in rows] == list(range(1, EPOCHS + 1))  # each epoch once
        assert comparable(out / "ck", folder) == comparable(reference.directory, folder), folder
    assert not list((out / "ck").glob("runs/*/seed*/.lock"))


def test_a_run_held_by_another_process_is_waited_for_and_counts_as_done_when_it_finished(
    tmp_path: Path,
) -> None:
    settings = small_experiment(seeds=1)
    spec = expand(settings)[0]
    folder = tmp_path / spec.folder
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], env=environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        reports: list[Any] = []
        waiter = threading.Thread(target=lambda: reports.append(run_one(spec, tmp_path)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not reports  # waits for the holder instead of training
        trained = compare(settings, out=tmp_path / "elsewhere", report=False).runs[0]
        (folder / "summary.json").write_text(
            (tmp_path / "elsewhere" / "cmp" / trained.spec.folder / "summary.json").read_text()
        )
        holder.send_signal(signal.SIGTERM)  # the holder "finished" the run and ends
        waiter.join(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    (report,) = reports
    assert report.skipped and report.summary == trained.summary  # counted as done, not trained again
    assert not (folder / "checkpoint.pt").exists()


HOLD = """
import sys, time
from lrlab import runlock
runlock.acquire(sys.argv[1], wait=False)
print("held", flush=True)
time.sleep(120)
"""


def test_a_run_directory_is_refused_while_another_process_trains_it(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], env=environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(
            LrlabError, match=rf"run directory .*run is being trained by process {holder.pid}"
        ):
            runlock.acquire(folder, wait=False)
        holder.kill()
        holder.wait()
        assert runlock.acquire(folder, wait=False)  # a killed holder's lock is gone with it
        assert not runlock.acquire(folder, wait=False)  # re-entrant in one process
    finally:
        holder.kill()
        holder.wait()
        runlock.release(folder)
    assert not (folder / runlock.LOCK).exists()


def test_jobs_are_capped_by_the_cpus_and_the_pending_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("lrlab.parallel.available_cpus", lambda: 2)
    assert worker_count(64, 4) == (2, "jobs=64 lowered to 2: 2 CPUs")
    assert worker_count(3, 1) == (1, "jobs=3 lowered to 1: 1 run to train")
    assert worker_count(5, 2) == (2, "jobs=5 lowered to 2: 2 CPUs and 2 runs to train")
    assert worker_count(2, 2) == (2, None) and worker_count(0, 9) == (2, None)
    assert worker_count(4, 0) == (1, None)  # nothing to train: nothing to say
    settings = small_experiment(seeds=1, train={"epochs": 1, "device": "cpu"})
    planned = plan(settings, out=tmp_path, jobs=64)
    assert planned.workers == 2 and planned.lowered == "jobs=64 lowered to 2: 2 CPUs and 2 runs to train"
    path = tmp_path / "one.toml"
    path.write_text(
        EXPERIMENT.replace("seeds = 2", "seeds = 1")
        .replace(f"epochs = {EPOCHS}", "epochs = 1")
        .replace("tests.fault_plugins:gated_mlp", "mlp(widths=[8])")
    )
    code = main(["compare", str(path), "--jobs", "64", "--quiet", "--no-report", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0 and err == "lrlab: note: --jobs 64 lowered to 2: 2 CPUs and 2 runs to train\n"
