"""Fixtures for the data tests: the shared real MNIST files, and a loopback file server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data.helpers import FileServer, serve

# <repo>/../shared/datasets: real public data kept beside the repository, never inside it.
SHARED_DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def mnist_test_dir() -> Path:
    """The folder of the genuine MNIST test set (IDX, gzipped); skips the test when absent."""
    folder = (SHARED_DATASETS / "mnist-test").resolve()
    if not all((folder / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"real MNIST test files not found in {folder} (the shared datasets folder is absent)")
    return folder


@pytest.fixture
def file_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """An HTTP server on 127.0.0.1 serving the files written into ``server.root``."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # loopback requests must not go through a proxy
    root = tmp_path / "served"
    root.mkdir()
    with serve(root) as server:
        yield server
