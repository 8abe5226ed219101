"""Start-up time of the ``lrlab`` command next to ``import torch``, in whole processes.

Each command runs as a fresh process, interleaved round by round (the order rotates each round,
so drifts in machine load hit every command alike), after one untimed warm-up run each. The
table gives the median, min and max wall time and the ratio to ``python -c "import torch"``.
Then it lists the heavy modules each lrlab command imports (from ``sys.modules`` in a fresh
process) and the slowest top-level imports of ``lrlab schedule … --format csv``
(``python -X importtime``).

Bytecode: an installed lrlab runs from cached ``.pyc`` files, but a checkout under
``PYTHONDONTWRITEBYTECODE=1`` recompiles its sources in every process. So by default the
subprocesses write and reuse bytecode in a temporary ``PYTHONPYCACHEPREFIX`` (the warm-up run
fills it); ``--as-is`` runs them with the caller's environment unchanged.

Usage::

    .venv/bin/python bench/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = "warmup(steps=5, start=0.0) >> cosine(steps=95, end=0.01)"
HEAVY = ("torch", "optuna", "matplotlib", "numpy", "pandas", "scipy", "pydantic", "rich")
LRLAB_ARGS = {
    "lrlab --help": ["--help"],
    "lrlab schedule (table)": ["schedule", SPEC, "--steps", "100"],
    "lrlab schedule --format csv": ["schedule", SPEC, "--steps", "100", "--format", "csv"],
}
REFERENCE = 'python -c "import torch"'
MODULES_PROBE = """
import contextlib, io, json, sys
from lrlab.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def lrlab_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m lrlab``."""
    script = Path(sys.executable).with_name("lrlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lrlab"]


def commands() -> dict[str, list[str]]:
    """Label → argv of every timed command; the reference (``import torch``) first."""
    lrlab = lrlab_command()
    timed = {
        'python -c "pass"': [sys.executable, "-c", "pass"],
        REFERENCE: [sys.executable, "-c", "import torch"],
    }
    timed |= {label: [*lrlab, *args] for label, args in LRLAB_ARGS.items()}
    return timed


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds for one whole process, from spawn to exit."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def measure(timed: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """``runs`` wall times per command, interleaved, after one untimed warm-up each."""
    for argv in timed.values():
        wall_time(argv, env)
    times: dict[str, list[float]] = {label: [] for label in timed}
    labels = list(timed)
    for round_ in range(runs):
        shift = round_ % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(wall_time(timed[label], env))
    return times


def bytecode_env(cache: str | None) -> dict[str, str]:
    """The subprocesses' environment: with ``cache``, bytecode is written to and read from it."""
    env = dict(os.environ)
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def print_times(times: dict[str, list[float]]) -> None:
    """The table: median, min, max in ms and the ratio of medians to ``import torch``."""
    reference = statistics.median(times[REFERENCE])
    width = max(map(len, times))
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'max ms':>7}  {'/ torch':>7}")
    for label, values in times.items():
        median = statistics.median(values)
        print(
            f"{label:<{width}}  {median * 1e3:9.1f}  {min(values) * 1e3:7.1f}  "
            f"{max(values) * 1e3:7.1f}  {median / reference:7.3f}"
        )


def loaded_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """Top-level modules in ``sys.modules`` after ``lrlab.cli.main(args)`` in a fresh process."""
    import json

    probe = [sys.executable, "-c", MODULES_PROBE, json.dumps(args)]
    result = subprocess.run(probe, capture_output=True, text=True, check=True, env=env)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise SystemExit(f"lrlab {' '.join(args)} exited with {report['code']}: {result.stderr}")
    return set(report["modules"])


def slowest_imports(args: list[str], env: dict[str, str], count: int = 5) -> list[tuple[str, int]]:
    """The ``count`` top-level imports with the largest cumulative time (µs) under -X importtime."""
    argv = [sys.executable, "-X", "importtime", "-m", "lrlab", *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # top level: one leading space only
            rows.append((name.strip(), int(cumulative)))
    return sorted(rows, key=lambda row: -row[1])[:count]


def print_machine() -> None:
    """Date, machine and versions, for docs/benchmarks.md."""
    torch_version = importlib.metadata.version("torch")  # without importing torch
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"date: {now}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}")
    lrlab_version = importlib.metadata.version("lrlab")
    print(f"python {platform.python_version()}, torch {torch_version}, lrlab {lrlab_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per command (default 9, at least 5)")
    parser.add_argument("--as-is", action="store_true", help="keep the environment's bytecode settings")
    options = parser.parse_args()
    runs = max(5, options.runs)
    print_machine()
    print(f"spec: {SPEC}; {runs} interleaved runs per command, whole-process wall time")
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-pyc-") as cache:
        env = bytecode_env(None if options.as_is else cache)
        mode = "as the environment says" if options.as_is else "cached in a temporary PYTHONPYCACHEPREFIX"
        print(f"bytecode: {mode}\n")
        print_times(measure(commands(), runs, env))
        print_imports(env)


def print_imports(env: dict[str, str]) -> None:
    """Which heavy modules each lrlab command loads, and the slowest imports of the CSV one."""
    print("\nheavy modules imported (fresh process, sys.modules after lrlab.cli.main):")
    for label, args in LRLAB_ARGS.items():
        heavy = sorted(loaded_modules(args, env) & set(HEAVY))
        print(f"  {label:<28} {', '.join(heavy) or 'none'}")
    print("\nslowest top-level imports of 'lrlab schedule … --format csv' (-X importtime, cumulative):")
    for name, microseconds in slowest_imports(LRLAB_ARGS["lrlab schedule --format csv"], env):
        print(f"  {name:<28} {microseconds / 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
