"""``load_dataset``: a dataset spec string → :class:`~lrlab.data.dataset.Data`.

Specs are a bare name (``mnist``), a call with options (``synthetic-regression(n=2000,
noise=0.1)``), an IDX pair (``idx(images="PATH", labels="PATH", test_size=2000)``; paths relative
to the working directory; ``num_classes`` defaults to the largest label + 1) or a plug-in
``pkg.module:function``, optionally with keyword options (``pkg.module:function(size=3)``), whose
function returns a :class:`Data` or ``(x_train, y_train, x_test, y_test)`` tensors or arrays
(integer targets mean classification, float targets regression).

Downloaded datasets live in ``<data_dir>/mnist/``, ``<data_dir>/fashion-mnist/`` (the four
official ``.gz`` files each) and ``<data_dir>/cifar10/`` (``cifar-10-python.tar.gz``, extracted
to ``cifar-10-batches-py/``).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lrlab.data import builtin, cifar, download
from lrlab.data.dataset import Data, as_float_inputs, check_fraction, split_validation
from lrlab.data.dataset import normalize as standardize
from lrlab.data.idx import read_idx_pair
from lrlab.errors import LrlabError, invalid, unknown
from lrlab.plugins import load_plugin
from lrlab.spec import Chain, parse_expression

DATA_DIR_ENV = "LRLAB_DATA_DIR"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_PLUGIN = re.compile(
    r"(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)(?P<args>\(.*\))?", re.S
)
_TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_CLASSES = 10


def default_data_dir() -> Path:
    """``$LRLAB_DATA_DIR``, or ``~/.cache/lrlab/data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".cache" / "lrlab" / "data").expanduser()


@dataclass(frozen=True)
class _Context:
    name: str
    options: dict[str, Any]
    data_dir: Path
    download: bool


def _labels(y: np.ndarray | Tensor) -> Tensor:
    return torch.as_tensor(y).to(torch.int64)


def _mnist_like(source: download.Source, context: _Context) -> Data:
    paths = download.ensure_files(source, context.data_dir / source.name, download=context.download)
    x_train, y_train = read_idx_pair(*(paths[name] for name in _TRAIN_FILES), num_classes=MNIST_CLASSES)
    x_test, y_test = read_idx_pair(*(paths[name] for name in _TEST_FILES), num_classes=MNIST_CLASSES)
    return _tensors_to_data(
        context.name, (x_train, y_train, x_test, y_test), images=True, num_classes=MNIST_CLASSES
    )


def _cifar10(context: _Context) -> Data:
    folder = context.data_dir / download.CIFAR10.name
    batches = folder / cifar.BATCH_DIR
    if not all((batches / name).is_file() for name in (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)):
        paths = download.ensure_files(download.CIFAR10, folder, download=context.download)
        download.extract_tar(paths["cifar-10-python.tar.gz"], folder)
    x_train, y_train, x_test, y_test = cifar.read_cifar10(folder)
    return _tensors_to_data(context.name, (x_train, y_train, x_test, y_test), images=True, num_classes=10)


def _idx(context: _Context) -> Data:
    options = context.options
    for key in ("images", "labels", "test_size"):
        if key not in options:
            raise LrlabError(f'idx() needs {key}=...; write idx(images="PATH", labels="PATH", test_size=N).')
    for key in ("images", "labels"):
        if not isinstance(options[key], str):
            raise invalid(key, "a path in quotes", options[key])
    classes = options.get("num_classes")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 2):
        raise invalid("num_classes", "an integer >= 2", classes)
    images, labels = (Path(options[key]).expanduser() for key in ("images", "labels"))
    x, y = read_idx_pair(images, labels, num_classes=classes)
    split = builtin.tail_split(as_float_inputs(x, images=True), _labels(y), options["test_size"])
    return _tensors_to_data(context.name, split, num_classes=options.get("num_classes"))


def _tensors_to_data(
    name: str, split: tuple[Any, Any, Any, Any], *, images: bool = False, num_classes: int | None = None
) -> Data:
    """Build Data from (x_train, y_train, x_test, y_test); integer targets mean classification."""
    x_train, y_train, x_test, y_test = (torch.as_tensor(part) for part in split)
    if y_train.dtype.is_floating_point or y_train.dtype == torch.bool:
        if num_classes is not None:
            raise invalid("num_classes", "left out for float (regression) targets", num_classes)
        return Data(
            name=name,
            x_train=as_float_inputs(x_train, images=images),
            y_train=y_train.to(torch.float32),
            x_test=as_float_inputs(x_test, images=images),
            y_test=y_test.to(torch.float32),
            task="regression",
            num_classes=None,
        )
    if num_classes is None:
        num_classes = int(max(y_train.max(), y_test.max() if len(y_test) else 0)) + 1
    return Data(
        name=name,
        x_train=as_float_inputs(x_train, images=images),
        y_train=_labels(y_train),
        x_test=as_float_inputs(x_test, images=images),
        y_test=_labels(y_test),
        task="classification",
        num_classes=num_classes,
    )


def _builtin(function: Callable[..., builtin.Split], **fixed: Any) -> Callable[[_Context], Data]:
    def load(context: _Context) -> Data:
        return _tensors_to_data(context.name, function(**context.options), **fixed)

    return load


_Loader = Callable[[_Context], Data]
DATASETS: Mapping[str, tuple[tuple[str, ...], _Loader]] = {
    "mnist": ((), lambda c: _mnist_like(download.MNIST, c)),
    "fashion-mnist": ((), lambda c: _mnist_like(download.FASHION_MNIST, c)),
    "cifar10": ((), _cifar10),
    "digits": (("test_size",), _builtin(builtin.digits, num_classes=builtin.DIGITS_CLASSES)),
    "synthetic-regression": (
        ("n", "features", "noise", "seed", "test_size"),
        _builtin(builtin.synthetic_regression),
    ),
    "synthetic-classification": (
        ("n", "features", "classes", "seed", "test_size"),
        lambda c: _tensors_to_data(
            c.name, builtin.synthetic_classification(**c.options), num_classes=c.options.get("classes", 3)
        ),
    ),
    "idx": (("images", "labels", "test_size", "num_classes"), _idx),
}


def _parse_call(text: str, what: str) -> tuple[str, dict[str, Any]]:
    if _NAME.fullmatch(text):
        return text, {}
    expression = parse_expression(text)
    if isinstance(expression, Chain):
        raise LrlabError(f"a {what} spec is one call, not a chain with '>>': {text!r}.")
    if expression.args:
        raise LrlabError(
            f"{what} options are keyword-only: write {expression.name}(key=value), got {text!r}."
        )
    return expression.name, dict(expression.kwargs)


def _check_arguments(function: Callable[..., Any], options: dict[str, Any], spec: str) -> None:
    """Refuse options the plug-in does not take, before calling it."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some built-in callables carry no signature
        return
    try:
        signature.bind(**options)
    except TypeError as error:
        raise LrlabError(f"dataset plug-in {spec!r}: {error}.") from None


def _load_plugin(match: re.Match[str], spec: str) -> Data:
    module_name, function_name = match["module"], match["function"]
    options = _parse_call(function_name + (match["args"] or ""), "dataset plug-in")[1]
    function = load_plugin(f"{module_name}:{function_name}", "dataset plug-in")
    _check_arguments(function, options, spec)
    result = function(**options)
    if isinstance(result, Data):
        return result
    if not isinstance(result, tuple | list) or len(result) != 4:
        raise LrlabError(
            f"dataset plug-in {spec!r} must return a Data or (x_train, y_train, x_test, y_test), "
            f"got {type(result).__name__}."
        )
    return _tensors_to_data(f"{module_name}:{function_name}", tuple(result))


def _load(spec: str, data_dir: Path, download: bool) -> Data:
    text = spec.strip()
    plugin = _PLUGIN.fullmatch(text)
    if plugin:
        return _load_plugin(plugin, spec)
    name, options = _parse_call(text, "dataset")
    if name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    keys, loader = DATASETS[name]
    extra = sorted(set(options) - set(keys))
    if extra:
        valid = ", ".join(keys) or "none"
        raise LrlabError(f"{name} has no option {extra[0]!r}; valid options: {valid}.")
    return loader(_Context(name, options, data_dir, download))


def check_finite(data: Data, spec: str) -> Data:
    """Refuse inputs (and regression targets) that hold NaN or infinity, naming the dataset: a
    training on them would only look like a learning rate that diverges."""
    splits = [("x", "train"), ("x", "val"), ("x", "test")]
    if data.task == "regression":
        splits += [("y", "train"), ("y", "val"), ("y", "test")]
    for kind, split in splits:
        values: Tensor | None = getattr(data, f"{kind}_{split}")
        if values is None or not values.is_floating_point() or len(values) == 0:
            continue
        bad = ~torch.isfinite(values.reshape(len(values), -1)).all(dim=1)
        if bool(bad.any()):
            what = "inputs" if kind == "x" else "targets"
            raise LrlabError(
                f"dataset {spec!r}: {int(bad.sum())} {split} sample(s) hold NaN or infinite {what}, "
                f"the first is {split} sample {int(bad.nonzero()[0, 0])}; repair or remove them."
            )
    return data


def load_dataset(
    spec: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    val_fraction: float = 0.0,
    seed: int = 0,
    normalize: bool = True,
) -> Data:
    """Load a dataset by spec as tensors, with an optional validation split, normalized.

    Args:
        spec: ``mnist``, ``fashion-mnist``, ``cifar10``, ``digits``, ``synthetic-regression(...)``,
            ``synthetic-classification(...)``, ``idx(images=..., labels=..., test_size=N)`` (the
            last ``test_size`` samples are the test split) or ``pkg.module:function``.
        data_dir: where downloaded datasets live (default: :func:`default_data_dir`).
        download: fetch missing files from the official mirrors (md5-checked).
        val_fraction: share of the training split held out for validation (stratified by class
            for classification), chosen with ``seed``.
        seed: seeds the validation split.
        normalize: standardize inputs per channel with the training split's mean and std.

    Raises:
        LrlabError: an unknown dataset or option, a bad value, or files that are missing or damaged.
    """
    if not isinstance(spec, str):
        raise invalid("spec", "a string such as 'mnist' or 'digits'", spec)
    check_fraction(val_fraction)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise invalid("seed", "an integer in [0, 2**63)", seed)
    folder = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    data = split_validation(check_finite(_load(spec, folder, download), spec), val_fraction, seed)
    return standardize(data) if normalize else data
