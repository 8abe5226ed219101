"""``lrlab train --nproc 2`` killed with SIGKILL leaves neither ``torchrun`` nor its processes
running, and its output's pipes close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fault_plugins import GATE_ENV, gate_passed
from tests.procs import descendants, kill_all, survivors

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_nproc_launcher_leaves_no_process(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    command = [
        sys.executable,
        "-m",
        "lrlab",
        "train",
        "--nproc",
        "2",
        "--model",
        "tests.fault_plugins:gated_mlp",
    ]
    command += ["--epochs", "5", "--batch-size", "64", "--quiet", "--out", str(tmp_path / "runs")]
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", GATE_ENV: f"{gate}:20"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    left: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(gate_passed(gate)) < 2:  # both processes are mid-run
            assert process.poll() is None, process.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the two processes were never seen training"
            time.sleep(0.05)
        left = descendants(process.pid)
        assert gate_passed(gate) <= left and len(left) >= 3  # torchrun and its two processes
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert survivors(left, within_s=10.0) == set()
    finally:
        process.kill()
        kill_all(left)
