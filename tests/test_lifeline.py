"""``lrlab.lifeline``: a child dies with its parent, by the parent-death signal and, where there
is none, by its watchdog thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lrlab import lifeline
from tests.procs import alive, kill_all, survivors

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import os, sys, time
from lrlab import lifeline
if sys.argv[1] == "watchdog-only":
    lifeline._PRCTL = None
lifeline.die_with_parent(os.getppid(), poll_s=0.1)
print("ready", flush=True)
time.sleep(60)
"""
MIDDLE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(60)
"""
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
@pytest.mark.parametrize("mode", ["signal", "watchdog-only"])
def test_a_child_dies_with_its_killed_parent(mode: str) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    middle = subprocess.Popen(
        [sys.executable, "-c", MIDDLE, CHILD, mode], env=env, stdout=subprocess.PIPE, text=True
    )
    child = -1
    try:
        assert middle.stdout is not None
        child = int(middle.stdout.readline())
        assert alive(child)
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        assert survivors({child}, within_s=3.0) == set()
    finally:
        middle.kill()
        middle.wait()
        kill_all({child})


def test_the_parent_death_signal_is_armed_on_linux() -> None:
    if sys.platform.startswith("linux"):
        assert lifeline.parent_death_signal(0)  # 0: disarm again (this is the test process)
    else:
        assert not lifeline.parent_death_signal()
    assert not lifeline.orphaned(os.getppid()) and lifeline.orphaned(-1)
