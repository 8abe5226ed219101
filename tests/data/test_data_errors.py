"""Data errors are refused at load, naming the file or dataset: NaN or infinite inputs, labels
outside the declared classes (or a stray label that would invent classes)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from lrlab.cli import main
from lrlab.data import download as dl
from lrlab.data import load_dataset
from lrlab.data.idx import read_idx_pair
from lrlab.errors import LrlabError
from tests.data.helpers import write_idx


def images(n: int = 12, dtype: str = "f4") -> np.ndarray:
    return np.random.default_rng(0).random((n, 4, 4)).astype(dtype)


def labels(n: int = 12) -> np.ndarray:
    return (np.arange(n) % 3).astype(np.uint8)


def idx_spec(x: Path, y: Path, extra: str = "") -> str:
    return f'idx(images="{x}", labels="{y}", test_size=3{extra})'


def test_nan_or_infinite_pixels_in_an_idx_file_are_refused_naming_the_file(tmp_path: Path) -> None:
    y = write_idx(tmp_path / "labels.gz", labels())
    for value, name in ((np.nan, "nan.gz"), (np.inf, "inf.gz")):
        x = images()
        x[5, 1, 2] = value
        x[9, 0, 0] = value
        path = write_idx(tmp_path / name, x)
        with pytest.raises(LrlabError) as caught:
            load_dataset(idx_spec(path, y))
        assert str(caught.value).startswith(
            f"cannot read IDX file '{path}': 2 sample(s) hold NaN or infinite"
        )
        assert "the first is sample 5" in str(caught.value)
    assert load_dataset(idx_spec(write_idx(tmp_path / "ok.gz", images()), y)).num_classes == 3


def test_labels_outside_the_declared_classes_are_refused_naming_the_file(tmp_path: Path) -> None:
    x = write_idx(tmp_path / "images.gz", images(dtype="u1"))
    stray = labels()
    stray[7] = 255
    y = write_idx(tmp_path / "labels.gz", stray)
    with pytest.raises(LrlabError, match=r"label 255 of sample 7 is outside the 3 classes 0\.\.2") as caught:
        load_dataset(idx_spec(x, y, ", num_classes=3"))
    assert f"'{y}'" in str(caught.value)
    # without num_classes, a stray 255 would make a 256-class model of 3 real classes
    with pytest.raises(
        LrlabError, match=r"labels run up to 255, but 252 of the classes 0\.\.255 never occur"
    ):
        load_dataset(idx_spec(x, y))
    assert load_dataset(idx_spec(x, y, ", num_classes=256")).num_classes == 256  # when declared
    with pytest.raises(LrlabError, match="num_classes must be an integer >= 2"):
        load_dataset(idx_spec(x, y, ", num_classes=1"))


def test_read_idx_pair_checks_the_labels_against_the_classes(tmp_path: Path) -> None:
    x = write_idx(tmp_path / "images.gz", images(dtype="u1"))
    y = write_idx(tmp_path / "labels.gz", labels())
    assert read_idx_pair(x, y, num_classes=3)[1].max() == 2
    with pytest.raises(LrlabError, match=r"label 2 of sample 2 is outside the 2 classes 0\.\.1 \(4 such"):
        read_idx_pair(x, y, num_classes=2)


def test_a_corrupted_label_in_mnist_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    remotes = []
    for remote in dl.MNIST.files:
        count = 30 if remote.filename.startswith("train") else 10
        if "images" in remote.filename:
            array = np.zeros((count, 28, 28), dtype=np.uint8)
        else:
            array = (np.arange(count) % 10).astype(np.uint8)
            array[3] = 255 if remote.filename.startswith("train") else array[3]
        path = write_idx(folder / remote.filename, array)
        remotes.append(dl.Remote(remote.filename, hashlib.md5(path.read_bytes()).hexdigest()))
    monkeypatch.setattr(dl, "MNIST", replace(dl.MNIST, files=tuple(remotes)))
    with pytest.raises(LrlabError) as caught:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert f"'{folder / 'train-labels-idx1-ubyte.gz'}'" in message
    assert "label 255 of sample 3 is outside the 10 classes 0..9" in message


def nan_inputs() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A dataset plug-in whose test inputs hold a NaN."""
    x, y = torch.randn(20, 3), torch.arange(20) % 2
    x[17, 1] = float("nan")
    return x[:15], y[:15], x[15:], y[15:]


def test_nan_inputs_from_a_plug_in_are_refused_naming_the_dataset() -> None:
    spec = "tests.data.test_data_errors:nan_inputs"
    with pytest.raises(LrlabError) as caught:
        load_dataset(spec)
    assert str(caught.value) == (
        f"dataset {spec!r}: 1 test sample(s) hold NaN or infinite inputs, the first is test sample 2; "
        "repair or remove them."
    )


def test_lrlab_train_on_nan_pixels_exits_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = images(40)
    x[0, 0, 0] = np.nan
    spec = idx_spec(write_idx(tmp_path / "nan.gz", x), write_idx(tmp_path / "y.gz", labels(40)))
    code = main(["train", "--dataset", spec, "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "hold NaN or infinite values" in err
    assert not (tmp_path / "runs").exists()
