"""Datasets that need no download: scikit-learn's 8×8 digits and seeded synthetic tasks.

Every loader returns tensors ``(x_train, y_train, x_test, y_test)``; the test split is always the
last ``test_size`` samples, so a loader's output depends on its arguments only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lrlab.errors import LrlabError, invalid

Split = tuple[Tensor, Tensor, Tensor, Tensor]

DIGITS_SAMPLES = 1797
DIGITS_CLASSES = 10
DIGITS_MAX = 16.0  # pixel values of load_digits are 0..16


def tail_split(x: Tensor, y: Tensor, test_size: int, *, param: str = "test_size") -> Split:
    """Split off the last ``test_size`` samples as the test set."""
    n = len(x)
    if isinstance(test_size, bool) or not isinstance(test_size, int) or not 1 <= test_size < n:
        raise invalid(param, f"an integer in [1, {n - 1}] (the data has {n} samples)", test_size)
    cut = n - test_size
    return x[:cut], y[:cut], x[cut:], y[cut:]


def digits(test_size: int = 360) -> Split:
    """scikit-learn's bundled handwritten digits: 1,797 images 1×8×8 in [0, 1], labels 0..9.

    The default ``test_size`` gives 1,437 train and 360 test samples. The file is read from the
    installed scikit-learn without importing it (``import sklearn.datasets`` takes seconds), with
    the same values as its ``load_digits()``.
    """
    table = np.loadtxt(_digits_file(), delimiter=",", dtype=np.float32)
    if table.shape != (DIGITS_SAMPLES, 65):
        raise LrlabError(f"{_digits_file()} holds a {table.shape} table, not the 1797×65 digits.")
    x = torch.from_numpy(table[:, :64]).reshape(-1, 1, 8, 8).div_(DIGITS_MAX)
    y = torch.from_numpy(table[:, 64]).to(torch.int64)
    return tail_split(x, y, test_size)


def _digits_file() -> Path:
    """``sklearn/datasets/data/digits.csv.gz`` of the installed scikit-learn."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise LrlabError("the digits dataset comes with scikit-learn; install it: pip install scikit-learn.")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise LrlabError(f"scikit-learn is installed but {path} is missing; reinstall scikit-learn.")
    return path


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise invalid("seed", "an integer in [0, 2**63)", seed)
    return torch.Generator().manual_seed(seed)


def _check_size(param: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(param, f"an integer >= {minimum}", value)


def synthetic_regression(
    n: int = 1000, features: int = 10, noise: float = 0.1, seed: int = 0, test_size: int | None = None
) -> Split:
    """A linear model with Gaussian noise: ``y = x @ w + b + noise * e``, ``x, w, b, e ~ N(0, 1)``.

    Targets have shape N×1 (the shape a one-output model predicts). ``test_size`` defaults to
    ``n // 5``.
    """
    _check_size("n", n, 2)
    _check_size("features", features, 1)
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise < float("inf"):
        raise invalid("noise", "a finite number >= 0", noise)
    generator = _generator(seed)
    x = torch.randn(n, features, generator=generator)
    weight = torch.randn(features, 1, generator=generator)
    bias = torch.randn(1, generator=generator)
    y = x @ weight + bias + noise * torch.randn(n, 1, generator=generator)
    return tail_split(x, y, n // 5 if test_size is None else test_size)


def synthetic_classification(
    n: int = 1000, features: int = 10, classes: int = 3, seed: int = 0, test_size: int | None = None
) -> Split:
    """Gaussian blobs: class ``c`` has mean ``m_c ~ N(0, 1)`` per feature and unit noise.

    Classes are balanced (sizes differ by at most one) and shuffled. ``test_size`` defaults to
    ``n // 5``.
    """
    _check_size("n", n, 2)
    _check_size("features", features, 1)
    _check_size("classes", classes, 2)
    generator = _generator(seed)
    centers = torch.randn(classes, features, generator=generator)
    y = torch.randperm(n, generator=generator) % classes
    x = centers[y] + torch.randn(n, features, generator=generator)
    return tail_split(x, y, n // 5 if test_size is None else test_size)
