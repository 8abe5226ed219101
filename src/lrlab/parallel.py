"""Worker processes, as ``compare --jobs`` and ``tune --workers`` use them: how many (at most one
per CPU and one per piece of work), how many torch threads each, and how one is started.

Workers are spawned, never forked: no forked torch, database or lock state, and the same on every
OS. :func:`spawn` is called from the main thread and the worker calls :func:`enter_worker` first
thing, so that it dies with the process that started it (:mod:`lrlab.lifeline`). Nothing here
imports torch until a thread count is set, so a command's ``--help`` stays light.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import Any

from lrlab import lifeline

SPAWN = multiprocessing.get_context("spawn")


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(jobs: int) -> int:
    """Torch threads per worker: the CPUs this process may use divided among ``jobs`` workers
    (at least 1), and at most ``$OMP_NUM_THREADS`` when that is set."""
    threads = max(1, available_cpus() // max(1, jobs))
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(limit)) if limit.isdigit() and int(limit) >= 1 else threads


def capped(asked: int, pending: int, *, flag: str, unit: str, purpose: str) -> tuple[int, str | None]:
    """The workers for ``pending`` pieces of work when ``asked`` are asked for (``0``: one per CPU):
    at most one per CPU and one per piece, at least 1; and why an explicit ``asked`` was lowered,
    if it was: ``"<flag> lowered to 2: 2 CPUs and 2 <unit>s <purpose>"``."""
    cpus = available_cpus()
    workers = max(1, min(asked or cpus, cpus, pending))
    if not asked or workers >= asked or pending <= 0:
        return workers, None
    limits = [f"{cpus} CPU{'s' * (cpus != 1)}"] if cpus == workers else []
    limits += [f"{pending} {unit}{'s' * (pending != 1)} {purpose}"] if pending == workers else []
    return workers, f"{flag} lowered to {workers}: {' and '.join(limits)}"


def spawn(target: Callable[..., None], *args: Any, name: str | None = None) -> BaseProcess:
    """Start ``target(*args, parent)`` in a spawned process, ``parent`` being this process's id
    (for :func:`enter_worker`). Call it from the main thread: the parent-death signal follows
    the thread that started the child."""
    process = SPAWN.Process(target=target, args=(*args, os.getpid()), name=name)
    process.start()
    return process


def enter_worker(parent: int) -> None:
    """First thing in a process started by :func:`spawn`: die with process ``parent``, and let
    Ctrl-C end this process at once, as a kill would (its work resumes or is retried)."""
    lifeline.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads, then restore the old count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
