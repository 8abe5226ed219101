"""load_dataset: specs, splits, normalization, plug-ins, and the downloaders end to end."""

from __future__ import annotations

import hashlib
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lrlab.data import DATASETS, default_data_dir, load_dataset
from lrlab.data import download as dl
from lrlab.errors import LrlabError
from tests.data.helpers import FileServer, closed_port_url, write_cifar_batches, write_idx


def mnist_8k(folder: Path) -> str:
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    return f'idx(images="{images}", labels="{labels}", test_size=2000)'


class TestMnist8k:
    def test_split_shapes_and_labels(self, mnist_test_dir: Path) -> None:
        data = load_dataset(mnist_8k(mnist_test_dir), normalize=False)
        assert data.x_train.shape == (8000, 1, 28, 28) and data.x_test.shape == (2000, 1, 28, 28)
        assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
        assert data.task == "classification" and data.num_classes == 10 and data.input_shape == (1, 28, 28)
        assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) == 1.0
        # The first 8,000 samples train, the last 2,000 test, in file order.
        raw = load_dataset(mnist_8k(mnist_test_dir), normalize=False, val_fraction=0.0)
        assert torch.equal(raw.y_test, data.y_test)

    def test_normalized_with_training_statistics(self, mnist_test_dir: Path) -> None:
        raw = load_dataset(mnist_8k(mnist_test_dir), normalize=False)
        data = load_dataset(mnist_8k(mnist_test_dir))
        mean, std = raw.x_train.mean(), raw.x_train.std()
        assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1) < 1e-4
        assert torch.allclose(data.x_test, (raw.x_test - mean) / std, atol=1e-4)

    def test_stratified_validation_split(self, mnist_test_dir: Path) -> None:
        data = load_dataset(mnist_8k(mnist_test_dir), val_fraction=0.1, seed=1)
        assert data.x_val is not None and data.y_val is not None
        assert len(data.x_train) + len(data.x_val) == 8000 and abs(len(data.x_val) - 800) <= 10
        train_share = torch.bincount(data.y_train, minlength=10) / len(data.y_train)
        val_share = torch.bincount(data.y_val, minlength=10) / len(data.y_val)
        assert torch.allclose(train_share, val_share, atol=0.005)
        again = load_dataset(mnist_8k(mnist_test_dir), val_fraction=0.1, seed=1)
        assert again.y_val is not None and torch.equal(again.y_val, data.y_val)
        other = load_dataset(mnist_8k(mnist_test_dir), val_fraction=0.1, seed=2)
        assert other.x_val is not None and not torch.equal(other.x_val, data.x_val)

    def test_loads_quickly(self, mnist_test_dir: Path) -> None:
        load_dataset(mnist_8k(mnist_test_dir))
        start = time.perf_counter()
        load_dataset(mnist_8k(mnist_test_dir))
        assert time.perf_counter() - start < 3.0  # about 0.2 s on 2 CPU cores

    def test_mismatched_pair(self, mnist_test_dir: Path, tmp_path: Path) -> None:
        labels = write_idx(tmp_path / "labels.gz", np.zeros(9999, dtype=np.uint8))
        spec = f'idx(images="{mnist_test_dir / "t10k-images-idx3-ubyte.gz"}", labels="{labels}", test_size=5)'
        with pytest.raises(LrlabError, match=r"10000 images but .* 9999 labels"):
            load_dataset(spec)


class TestSpecs:
    def test_bare_names_and_calls(self) -> None:
        data = load_dataset("synthetic-regression(n=2000, noise=0.1)", normalize=False)
        assert data.task == "regression" and data.num_classes is None and data.output_size == 1
        assert len(data.x_train) == 1600 and len(data.x_test) == 400
        classes = load_dataset("synthetic-classification(n=90, features=2, classes=3, seed=4)")
        assert classes.num_classes == 3 and classes.input_shape == (2,) and classes.output_size == 3
        assert set(DATASETS) == {
            "mnist", "fashion-mnist", "cifar10", "digits", "synthetic-regression",
            "synthetic-classification", "idx",
        }  # fmt: skip

    def test_digits_is_the_embedded_default(self) -> None:
        data = load_dataset("digits")
        assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
        assert data.num_classes == 10 and data.x_val is None

    def test_unknown_dataset_suggests(self) -> None:
        with pytest.raises(LrlabError, match="unknown dataset 'fashion_mnist'; did you mean 'fashion-mnist'"):
            load_dataset("fashion_mnist")

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("digits(size=3)", "digits has no option 'size'; valid options: test_size"),
            ("mnist(n=3)", "mnist has no option 'n'; valid options: none"),
            ("digits(300)", "keyword-only"),
            ("digits() >> mnist()", "not a chain"),
            ("synthetic-regression(noise=-0.5)", "^noise must be a finite number >= 0"),
            ('synthetic-classification(classes="many")', "^classes must be an integer"),
            ('idx(images="a")', "idx\\(\\) needs labels"),
            ('idx(images=3, labels="b", test_size=1)', "^images must be a path"),
            ("digits(", "bad spec"),
        ],
    )
    def test_bad_specs_name_the_problem(self, spec: str, message: str) -> None:
        with pytest.raises(LrlabError, match=message):
            load_dataset(spec)

    @pytest.mark.parametrize(
        ("kwargs", "param"),
        [
            ({"val_fraction": 1.0}, "val_fraction"),
            ({"val_fraction": -0.1}, "val_fraction"),
            ({"seed": -1}, "seed"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, object], param: str) -> None:
        with pytest.raises(LrlabError, match=rf"^{param} must be"):
            load_dataset("digits", **kwargs)  # type: ignore[arg-type]

    def test_regression_validation_split(self) -> None:
        data = load_dataset("synthetic-regression(n=100)", val_fraction=0.25, seed=0)
        assert data.x_val is not None and len(data.x_val) == 20 and len(data.x_train) == 60

    def test_tiny_val_fraction_is_refused(self) -> None:
        with pytest.raises(LrlabError, match=r"^val_fraction must be large enough"):
            load_dataset("synthetic-regression(n=20)", val_fraction=0.01)

    def test_default_data_dir(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path))
        assert default_data_dir() == tmp_path
        monkeypatch.delenv("LRLAB_DATA_DIR")
        assert default_data_dir() == Path.home() / ".cache" / "lrlab" / "data"


class TestData:
    def test_repr_is_short_and_validation_names_fields(self) -> None:
        data = load_dataset("synthetic-classification(n=50)")
        assert repr(data).startswith("Data(name='synthetic-classification', task='classification'")
        with pytest.raises(LrlabError, match="labels must lie in"):
            replace(data, num_classes=2)
        with pytest.raises(LrlabError, match="x_train holds 40 samples but y_train 39"):
            replace(data, y_train=data.y_train[:-1])
        with pytest.raises(LrlabError, match="both x_val and y_val"):
            replace(data, x_val=data.x_train)
        with pytest.raises(LrlabError, match=r"^task must be"):
            replace(data, task="ranking")  # type: ignore[arg-type]


PLUGIN = """
import torch
from lrlab.data import Data

def tensors(n=10):
    x = torch.arange(2 * n, dtype=torch.float32).reshape(n, 2)
    return x[:8], torch.arange(8) % 2, x[8:], torch.arange(n - 8) % 2

def regression():
    return torch.randn(6, 1, 2, 2), torch.randn(6), torch.randn(2, 1, 2, 2), torch.randn(2)

def ready():
    x = torch.randn(10, 3)
    return Data(name="ready", x_train=x[:8], y_train=torch.arange(8) % 4, x_test=x[8:],
                y_test=torch.arange(2), task="classification", num_classes=4)

def wrong():
    return "nope"
"""


class TestPlugins:
    @pytest.fixture(autouse=True)
    def plugin_module(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "lrlab_test_plugin.py").write_text(PLUGIN)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "lrlab_test_plugin", raising=False)

    def test_tensors_with_options(self) -> None:
        data = load_dataset("lrlab_test_plugin:tensors(n=12)", normalize=False)
        assert data.task == "classification" and data.num_classes == 2 and len(data.x_test) == 4

    def test_float_targets_mean_regression(self) -> None:
        data = load_dataset("lrlab_test_plugin:regression")
        assert data.task == "regression" and data.input_shape == (1, 2, 2)

    def test_data_goes_through_split_and_normalization(self) -> None:
        data = load_dataset("lrlab_test_plugin:ready", val_fraction=0.25)
        assert data.name == "ready" and data.x_val is not None and len(data.x_val) == 2
        assert abs(float(data.x_train.mean())) < 1e-5

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("lrlab_test_plugin:wrong", "must return a Data or"),
            ("lrlab_test_plugin:absent", "has no function 'absent'"),
            ("lrlab_no_such_module:f", "cannot import 'lrlab_no_such_module'"),
            ("lrlab_test_plugin:tensors(m=3)", "unexpected keyword argument 'm'"),
        ],
    )
    def test_errors(self, spec: str, message: str) -> None:
        with pytest.raises(LrlabError, match=message):
            load_dataset(spec)


def fake_mnist(server: FileServer, source: dl.Source, n: int = 30) -> dl.Source:
    rng = np.random.default_rng(0)
    remotes = []
    for remote in source.files:
        count = n if remote.filename.startswith("train") else n // 3
        if "images" in remote.filename:
            array = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        else:
            array = (np.arange(count) % 10).astype(np.uint8)
        path = write_idx(server.root / remote.filename, array)
        remotes.append(dl.Remote(remote.filename, hashlib.md5(path.read_bytes()).hexdigest()))
    return replace(source, mirrors=(server.url("missing/"), server.url()), files=tuple(remotes))


class TestDownloadedDatasets:
    @pytest.mark.parametrize(("name", "attribute"), [("mnist", "MNIST"), ("fashion-mnist", "FASHION_MNIST")])
    def test_mnist_like_end_to_end(
        self,
        name: str,
        attribute: str,
        file_server: FileServer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(dl, attribute, fake_mnist(file_server, getattr(dl, attribute)))
        data = load_dataset(name, data_dir=tmp_path / "data", val_fraction=0.2)
        assert data.name == name and data.x_train.shape == (24, 1, 28, 28) and len(data.x_test) == 10
        assert data.x_val is not None and len(data.x_val) == 6
        assert sorted(p.name for p in (tmp_path / "data" / name).iterdir()) == sorted(
            r.filename for r in getattr(dl, attribute).files
        )
        again = load_dataset(name, data_dir=tmp_path / "data", download=False, val_fraction=0.2)
        assert torch.equal(again.x_train, data.x_train)

    def test_offline_message(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(dl, "MNIST", replace(dl.MNIST, mirrors=(closed_port_url(),)))
        with pytest.raises(LrlabError) as caught:
            load_dataset("mnist", data_dir=tmp_path)
        message = str(caught.value)
        assert f"Put these files in '{tmp_path / 'mnist'}'" in message
        assert all(r.filename in message for r in dl.MNIST.files)

    def test_cifar10_end_to_end(
        self, file_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write_cifar_batches(tmp_path / "build", per_batch=4)
        archive = file_server.root / "cifar-10-python.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        remote = dl.Remote(archive.name, dl.md5sum(archive))
        monkeypatch.setattr(dl, "CIFAR10", replace(dl.CIFAR10, mirrors=(file_server.url(),), files=(remote,)))
        data = load_dataset("cifar10", data_dir=tmp_path / "data")
        assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
        assert data.num_classes == 10
        channel_means = data.x_train.mean(dim=(0, 2, 3))
        assert torch.allclose(channel_means, torch.zeros(3), atol=1e-5)
        archive.unlink()  # extracted batches are enough from now on, even offline
        assert load_dataset("cifar10", data_dir=tmp_path / "data", download=False).x_train.shape[0] == 20
