"""Threads per workload: a small dense model trains on one thread on CPU; larger, convolutional
and sequence models and a set $OMP_NUM_THREADS keep theirs; the old count comes back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrlab.threads import is_small, threads_for, workload_threads

CPU = torch.device("cpu")


def test_small_dense_models_get_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    mlp = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    assert is_small(mlp) and threads_for(mlp, CPU) == 1
    assert threads_for(mlp, torch.device("cuda")) is None
    assert threads_for(nn.Linear(1000, 1000), CPU) is None  # a million parameters
    assert threads_for(nn.Conv2d(1, 4, 3), CPU) is None
    assert threads_for(nn.Embedding(10, 4), CPU) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_for(mlp, CPU) is None  # the user's choice


def test_workload_threads_restores_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with workload_threads(nn.Linear(4, 2), CPU):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
