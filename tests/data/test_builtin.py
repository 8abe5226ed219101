"""Built-in datasets: scikit-learn digits and the seeded synthetic tasks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from lrlab.data import builtin
from lrlab.errors import LrlabError


def test_digits_shapes_and_range() -> None:
    x_train, y_train, x_test, y_test = builtin.digits()
    assert len(x_train) + len(x_test) == 1797
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert float(x_train.min()) >= 0 and float(x_train.max()) == 1.0
    assert set(y_train.tolist()) == set(range(10)) and set(y_test.tolist()) == set(range(10))


def test_digits_equal_scikit_learns_load_digits_without_importing_it() -> None:
    import subprocess
    import sys

    probe = "import sys; from lrlab.data import builtin; builtin.digits(); print('sklearn' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    bunch = load_digits()
    x_train, y_train, x_test, y_test = builtin.digits()
    assert torch.equal(
        torch.cat([x_train, x_test]), torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16
    )
    assert torch.equal(torch.cat([y_train, y_test]), torch.as_tensor(bunch.target, dtype=torch.int64))


def test_digits_test_size() -> None:
    assert len(builtin.digits(test_size=797)[2]) == 797
    with pytest.raises(LrlabError, match="test_size must be an integer in"):
        builtin.digits(test_size=1797)


@pytest.mark.parametrize("make", [builtin.synthetic_regression, builtin.synthetic_classification])
def test_synthetic_is_deterministic_per_seed(make: Callable[..., builtin.Split]) -> None:
    first, again, other = make(seed=3), make(seed=3), make(seed=4)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], other[0])


def test_synthetic_regression_shapes_and_noise() -> None:
    x_train, y_train, x_test, _ = builtin.synthetic_regression(n=500, features=3, noise=0.0)
    assert x_train.shape == (400, 3) and y_train.shape == (400, 1) and x_test.shape == (100, 3)
    # Without noise the targets are exactly linear: least squares recovers them.
    design = torch.cat([x_train, torch.ones(400, 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, y_train.double()).solution
    assert torch.allclose(design @ solution, y_train.double(), atol=1e-5)


def test_synthetic_classification_is_balanced() -> None:
    x_train, y_train, _, y_test = builtin.synthetic_classification(n=300, features=4, classes=3)
    counts = torch.bincount(torch.cat([y_train, y_test]))
    assert counts.tolist() == [100, 100, 100]
    assert x_train.shape == (240, 4) and y_train.dtype == torch.int64


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 1}, "n"),
        ({"n": 10.0}, "n"),
        ({"features": 0}, "features"),
        ({"classes": 1}, "classes"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"test_size": 0}, "test_size"),
    ],
)
def test_bad_options_name_the_option(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(LrlabError, match=rf"^{param} must be"):
        builtin.synthetic_classification(**kwargs)  # type: ignore[arg-type]


def test_bad_noise() -> None:
    with pytest.raises(LrlabError, match=r"^noise must be"):
        builtin.synthetic_regression(noise=float("nan"))
