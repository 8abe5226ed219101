"""CIFAR-10 python batches: the official layout, validation, and the restricted unpickler."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from lrlab.data.cifar import read_batch, read_cifar10
from lrlab.errors import LrlabError
from tests.data.helpers import write_cifar_batches


def test_reads_the_official_layout(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path, per_batch=6)
    x_train, y_train, x_test, _ = read_cifar10(tmp_path)
    assert x_train.shape == (30, 3, 32, 32) and x_train.dtype == np.uint8
    assert x_test.shape == (6, 3, 32, 32)
    assert y_train.dtype == np.int64 and y_train.shape == (30,)
    raw = pickle.loads((folder / "data_batch_2").read_bytes())
    # Row-major 3072 values = 1024 red, 1024 green, 1024 blue, each 32×32.
    np.testing.assert_array_equal(x_train[6:12].reshape(6, -1), raw[b"data"])
    np.testing.assert_array_equal(x_train[6, 1], raw[b"data"][0, 1024:2048].reshape(32, 32))
    assert y_train[6:12].tolist() == raw[b"labels"]


def test_str_keys_as_python2_pickles_decode(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    data = np.zeros((2, 3072), dtype=np.uint8)
    path.write_bytes(pickle.dumps({"data": data, "labels": [3, 4]}, protocol=4))
    assert read_batch(path)[1].tolist() == [3, 4]


def test_refuses_a_pickle_that_would_run_code(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo should-never-run",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(LrlabError, match="forbidden global"):
        read_batch(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([1, 2, 3], "expected a dict"),
        ({b"labels": [1]}, "missing keys"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, "shape"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "uint8"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "2 integers"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, "0..9"),
    ],
)
def test_malformed_batches_name_the_file(tmp_path: Path, content: object, problem: str) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(LrlabError) as caught:
        read_batch(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_garbage_and_truncated_files(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(LrlabError, match="data_batch_3"):
        read_cifar10(tmp_path)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(LrlabError, match="data_batch_3"):
        read_batch(path)


def test_missing_batches_are_listed(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path)
    (folder / "data_batch_4").unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(LrlabError, match="data_batch_4, test_batch"):
        read_cifar10(tmp_path)


class _Python2Array:
    """Pickles an array the way the official Python 2 files do: raw data as a str, and numpy's
    reconstructor under its numpy 1.x module name."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self) -> tuple[object, ...]:
        reconstruct = np.zeros(1).__reduce__()[0]
        raw = self.array.tobytes().decode("latin1")
        return (reconstruct, (np.ndarray, (0,), "b"), (1, self.array.shape, self.array.dtype, False, raw))


def test_python2_style_pickle_with_numpy_1_names(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 256, (3, 3072), dtype=np.uint8)
    blob = pickle.dumps({"data": _Python2Array(data), "labels": [0, 9, 5]}, protocol=2)
    path = tmp_path / "data_batch_1"
    path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    images, labels = read_batch(path)
    np.testing.assert_array_equal(images.reshape(3, -1), data)
    assert labels.tolist() == [0, 9, 5]
