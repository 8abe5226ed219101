"""CIFAR-10 "python version" batches (``cifar-10-batches-py/``), read with a restricted unpickler.

The official batches are pickled dicts (``data``: uint8 N×3072, ``labels``: N ints). A plain
``pickle.load`` runs whatever a file names, so :class:`_BatchUnpickler` resolves only the few
globals that rebuild a numpy array; anything else is refused before it is imported or called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from lrlab.errors import LrlabError

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
MAX_BATCH_BYTES = 200 * 2**20  # an official batch is about 31 MB


def _allowed_globals() -> dict[tuple[str, str], Any]:
    # Taken from numpy's own reducers, so they are right for numpy 1.x and 2.x alike.
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,  # how protocol 2 stores bytes
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding.lower() not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; refuses every other global."""

    allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def _bad(path: Path, problem: str) -> LrlabError:
    return LrlabError(
        f"cannot read CIFAR-10 batch '{path}': {problem}. "
        "Replace it with the file from the official cifar-10-python.tar.gz."
    )


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LrlabError(f"CIFAR-10 batch '{path}' does not exist.") from None
    if len(raw) > MAX_BATCH_BYTES:
        raise _bad(path, f"{len(raw)} bytes is far larger than an official batch")
    try:
        # latin1 is how the official Python 2 pickles decode (keys become str).
        content = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as error:  # any unpickling failure means a damaged or foreign file
        raise _bad(path, f"not a CIFAR-10 pickle ({type(error).__name__}: {error})") from None
    if not isinstance(content, dict):
        raise _bad(path, f"expected a dict, found {type(content).__name__}")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): v for key, v in content.items()}


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file into ``(images uint8 N×3×32×32, labels int64 N)``."""
    path = Path(path)
    content = _unpickle(path)
    missing = {"data", "labels"} - content.keys()
    if missing:
        raise _bad(path, f"missing keys {sorted(missing)} (found {sorted(content)})")
    data, labels = content["data"], np.asarray(content["labels"])
    pixels = int(np.prod(IMAGE_SHAPE))
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != pixels
    ):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise _bad(path, f"'data' must be a uint8 array of shape (N, {pixels}), found {found}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise _bad(path, f"'labels' must be {len(data)} integers, found {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= CLASSES):
        raise _bad(path, f"labels must lie in 0..{CLASSES - 1}, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def read_cifar10(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``directory/cifar-10-batches-py`` into ``(x_train, y_train, x_test, y_test)``.

    Images are uint8 N×3×32×32 (50,000 train, 10,000 test for the official set).
    """
    folder = Path(directory) / BATCH_DIR
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / name).is_file()]
    if missing:
        raise LrlabError(f"CIFAR-10 batches missing from '{folder}': {', '.join(missing)}.")
    train = [read_batch(folder / name) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(folder / TEST_BATCH)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test
