"""Settings for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread here and in every process the tests start: small models train as fast
    on one intra-op thread, every process does the same arithmetic, and the machine's few cores
    shared with other work are not oversubscribed by waiting OpenMP threads."""
    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(before)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask (022) for the test, the previous one restored after."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)
