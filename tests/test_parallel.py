"""``lrlab.parallel``: threads per worker, the cap on the workers asked for, a spawned worker that
knows its parent, and torch threads restored after a block."""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

import pytest
import torch

from lrlab import parallel


def test_threads_per_worker_share_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS")
    cpus = len(os.sched_getaffinity(0))
    assert parallel.available_cpus() == cpus
    assert parallel.worker_threads(1) == cpus and parallel.worker_threads(cpus * 4) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert parallel.worker_threads(1) == 1


def test_workers_are_capped_by_the_cpus_and_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "available_cpus", lambda: 4)

    def cap(asked: int, pending: int) -> tuple[int, str | None]:
        return parallel.capped(asked, pending, flag=f"--workers {asked}", unit="trial", purpose="to run")

    assert cap(8, 20) == (4, "--workers 8 lowered to 4: 4 CPUs")
    assert cap(8, 1) == (1, "--workers 8 lowered to 1: 1 trial to run")
    assert cap(8, 4) == (4, "--workers 8 lowered to 4: 4 CPUs and 4 trials to run")
    assert cap(0, 9) == (4, None) and cap(3, 9) == (3, None)  # 0: one per CPU, said nowhere
    assert cap(2, 0) == (1, None) and cap(2, -1) == (1, None)  # nothing left: nothing to say


def _report_parent(connection: Connection, parent: int) -> None:
    parallel.enter_worker(parent)
    connection.send((parent, os.getppid()))


def test_a_spawned_worker_is_told_its_parent() -> None:
    here, there = parallel.SPAWN.Pipe()
    process = parallel.spawn(_report_parent, there, name="lrlab-test-worker")
    there.close()
    assert here.recv() == (os.getpid(), os.getpid())
    process.join(30)
    assert process.exitcode == 0 and process.name == "lrlab-test-worker"


def test_torch_threads_are_restored_after_the_block() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), parallel.torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("the block failed")
    assert torch.get_num_threads() == before
