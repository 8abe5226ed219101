"""The main job under real conditions: ``lrlab compare`` with no arguments (the quickstart, as the
README's first command runs it), idle and beside one busy process, and the ratio of the two.

Each call is a fresh ``python -m lrlab compare`` in a fresh working folder (so it writes
``runs/quickstart/`` there, report included), timed from start to exit, with
``$OMP_NUM_THREADS`` removed from its environment: the threads are lrlab's choice
(:mod:`lrlab.threads`), as on a user's machine. The busy process is one Python loop spinning on
a core (a build, a browser tab, another training) started before the call and stopped after it.
Calls alternate idle/busy so that drifts hit both alike; the figures are the medians. Target:
busy / idle ≤ 1.3.

Usage::

    .venv/bin/python bench/threads_under_load.py [--rounds 3] [--busy 1] [-- extra compare flags]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SPIN = "while True: pass"


def timed_compare(busy: int, extra: list[str]) -> float:
    """Wall seconds of one ``lrlab compare`` beside ``busy`` spinning processes."""
    env = {
        key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as folder:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "lrlab", "compare", *extra],
                cwd=folder,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return time.perf_counter() - started
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="calls per condition (default: 3)")
    parser.add_argument("--busy", type=int, default=1, help="busy processes beside the job (default: 1)")
    parser.add_argument("extra", nargs="*", help="flags passed to lrlab compare (after --)")
    args = parser.parse_args()
    idle: list[float] = []
    loaded: list[float] = []
    for _ in range(args.rounds):
        idle.append(timed_compare(0, args.extra))
        loaded.append(timed_compare(args.busy, args.extra))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {platform.processor() or platform.machine()}, {cpus} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(
        f"date: {datetime.date.today().isoformat()}; command: lrlab compare {' '.join(args.extra)}".rstrip()
    )
    print(f"idle:            {statistics.median(idle):6.1f} s  (runs: {', '.join(f'{t:.1f}' for t in idle)})")
    print(
        f"{args.busy} busy process: {statistics.median(loaded):6.1f} s  "
        f"(runs: {', '.join(f'{t:.1f}' for t in loaded)})"
    )
    ratio = statistics.median(loaded) / statistics.median(idle)
    print(f"ratio busy / idle: {ratio:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
