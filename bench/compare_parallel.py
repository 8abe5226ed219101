"""Runs per minute of ``lrlab compare`` with ``--jobs 1`` and ``--jobs 2``, and their ratio.

The comparison is the ``quickstart`` preset (digits, an MLP, four LR schedules) with more seeds
and epochs, so that each call lasts long enough for the worker processes' start to be paid back:
a spawned worker is a fresh Python that imports torch, lrlab and (for digits) scikit-learn, about
3 s of CPU, while ``--jobs 1`` trains in the already started process. A run here is about 2 s of
CPU per 100 epochs. Each call gets a fresh output folder and times the whole
:func:`lrlab.compare.compare` call: checks, worker start, every run, ``summary.csv`` (no HTML
report). The calls alternate ``1, 2, 2, 1, …`` so that drifts in machine load hit both alike;
the figures are the medians, with the CPU time of this process and its workers (what a second
worker adds: its start). ``--jobs 1`` trains in this process with all the CPUs' threads,
``--jobs 2`` in two spawned workers with half the threads each (``$OMP_NUM_THREADS`` caps both).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/compare_parallel.py [--seeds 4] [--epochs 200] [--rounds 1]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lrlab.compare import compare
from lrlab.config import Experiment, apply_overrides
from lrlab.parallel import available_cpus, worker_threads
from lrlab.presets import load_preset


def comparison(seeds: int, epochs: int) -> Experiment:
    """The quickstart preset at a larger budget."""
    return apply_overrides(load_preset("quickstart"), name="bench", seeds=seeds, epochs=epochs)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the workers), user and system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(experiment: Experiment, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one comparison into a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as folder:
        started, cpu = time.perf_counter(), cpu_seconds()
        compare(experiment, out=Path(folder), jobs=jobs, report=False)
        return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=4, help="seeds per variant (4 variants; default 4)")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per run (default 200)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (jobs 1, jobs 2, jobs 2, jobs 1)")
    args = parser.parse_args()
    experiment = comparison(args.seeds, args.epochs)
    runs = len(experiment.variant) * experiment.seeds
    load = os.getloadavg()
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for jobs in (1, 2, 2, 1):
            wall, used = timed(experiment, jobs)
            times[jobs].append(wall)
            cpu[jobs].append(used)
            print(
                f"jobs {jobs}: {wall:.1f} s wall, {used:.1f} s CPU, load {os.getloadavg()[0]:.2f}", flush=True
            )
    cpus = available_cpus()
    print(
        f"\n{datetime.date.today()} · {platform.processor() or platform.machine()} · {cpus} CPUs · "
        f"python {platform.python_version()} · torch {torch.__version__} · "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} · "
        f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(
        f"comparison: quickstart, {len(experiment.variant)} variants × {experiment.seeds} seeds = {runs} runs"
    )
    print(f"of {experiment.train.epochs} epochs\n")
    print(f"{'jobs':>4}  {'threads/worker':>14}  {'median s':>9}  {'runs/min':>9}  {'CPU s':>6}  all s")
    rate = {}
    for jobs, seconds in times.items():
        median = statistics.median(seconds)
        rate[jobs] = runs / median * 60
        shown = ", ".join(f"{value:.1f}" for value in seconds)
        threads, used = worker_threads(jobs), statistics.median(cpu[jobs])
        print(f"{jobs:>4}  {threads:>14}  {median:>9.1f}  {rate[jobs]:>9.1f}  {used:>6.1f}  {shown}")
    print(f"\nruns per minute, jobs 2 / jobs 1: {rate[2] / rate[1]:.2f}× (target ≥ 1.7×)")
    if load[0] > 0.5 * (cpus or 1):
        print(f"note: the load average was {load[0]:.2f} on {cpus} CPUs before the runs: other work held")
        print("the cores, and a second worker can only be as fast as a free core.")


if __name__ == "__main__":
    main()
