"""IDX files (MNIST, Fashion-MNIST, any IDX pair), gzipped or raw, read whole with numpy.

An IDX file is a 4-byte magic number ``0 0 <dtype code> <ndim>``, ``ndim`` big-endian uint32
sizes, then the values in C order, big-endian. Every count is checked against the file's real
size, so a truncated or corrupted download fails here with the file's name, not later as a
strange shape.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from lrlab.errors import LrlabError

GZIP_MAGIC = b"\x1f\x8b"
# The IDX dtype codes; values are stored big-endian.
DTYPES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMS = 8


def bad_file(path: Path, problem: str) -> LrlabError:
    """The error for an unreadable data file: names the file, the problem and the fix."""
    return LrlabError(
        f"cannot read IDX file '{path}': {problem}. "
        "Replace it with the original file (delete it to download it again)."
    )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip: read as far as its header promises (plus one
    byte, to see trailing data), after checking that the values fit in this machine's memory —
    a small gzip that inflates to gigabytes is refused before it is inflated."""
    try:
        with path.open("rb") as file:
            if file.read(2) != GZIP_MAGIC:
                return path.read_bytes()
        with gzip.open(path) as stream:
            head = stream.read(4 + 4 * MAX_DIMS)
            dtype, shape, offset = _parse_header(path, head)
            _check_memory(path, dtype, shape)
            return head + stream.read(offset + math.prod(shape) * dtype.itemsize + 1 - len(head))
    except FileNotFoundError:
        raise LrlabError(f"IDX file '{path}' does not exist.") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise bad_file(path, f"corrupted or truncated gzip data ({error})") from None
    except OSError as error:
        raise LrlabError(f"cannot open IDX file '{path}': {error.strerror or error}.") from None


def _check_memory(path: Path, dtype: np.dtype[np.generic], shape: tuple[int, ...]) -> None:
    """Refuse values whose float32 copy would not fit in this machine's memory."""
    memory = _physical_memory()
    needed = math.prod(shape) * max(dtype.itemsize, 4)  # lrlab keeps inputs as float32
    if memory is not None and needed > memory:
        dims = "x".join(str(n) for n in shape)
        raise bad_file(
            path,
            f"the header promises {dims} values ({needed / 2**30:.1f} GiB as float32), more than this "
            f"machine's memory ({memory / 2**30:.1f} GiB)",
        )


def _physical_memory() -> int | None:
    """This machine's memory in bytes (``None`` where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype[np.generic], tuple[int, ...], int]:
    if len(data) < 4:
        raise bad_file(path, f"only {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise bad_file(path, f"bad magic number 0x{data[:4].hex()} (an IDX file starts with 0x0000)")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in DTYPES)
        raise bad_file(path, f"unknown dtype code 0x{code:02x} (known: {known})")
    if not 1 <= ndim <= MAX_DIMS:
        raise bad_file(path, f"{ndim} dimensions in the header (expected 1 to {MAX_DIMS})")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise bad_file(path, f"header of {ndim} dimensions is cut short at {len(data)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return DTYPES[code], shape, offset


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip detected by its magic bytes) into a native-endian array.

    Raises:
        LrlabError: naming the file, when it is missing, truncated, too long, or has a bad magic
            number, dtype code or dimension count.
    """
    path = Path(path)
    data = _read_bytes(path)
    dtype, shape, offset = _parse_header(path, data)
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - offset
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        dims = "x".join(str(s) for s in shape)
        raise bad_file(
            path, f"{what}: the header promises {dims} {dtype.name} values ({expected} bytes), found {found}"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=offset)
    # astype copies: the result is writable and in native byte order.
    return values.reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_pair(
    images: str | Path, labels: str | Path, *, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file, checking that they belong together and hold
    data: every image value finite, every label one of the classes.

    Args:
        images: the images file.
        labels: the labels file.
        num_classes: the declared classes (labels ``0 … num_classes - 1``); without it, the
            classes are ``0 …`` the largest label, and each of them must occur.

    Returns:
        ``(images, labels)``: images with at least 2 dimensions (samples first), labels 1-D
        integers, both with the same number of samples.
    """
    x, y = read_idx(images), read_idx(labels)
    if x.ndim < 2:
        raise bad_file(Path(images), f"images need at least 2 dimensions, found shape {x.shape}")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise bad_file(Path(labels), f"labels must be 1-D integers, found {y.dtype.name} of shape {y.shape}")
    if len(x) != len(y):
        raise LrlabError(
            f"IDX files do not match: '{images}' holds {len(x)} images but '{labels}' holds "
            f"{len(y)} labels. Use the labels file that belongs to these images."
        )
    check_finite_values(Path(images), x)
    check_labels(Path(labels), y, num_classes)
    return x, y


def check_finite_values(path: Path, x: np.ndarray) -> None:
    """Refuse NaN or infinite values (float IDX files only can hold them), naming the file."""
    if x.dtype.kind != "f":
        return
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise bad_file(
            path,
            f"{int(bad.sum())} sample(s) hold NaN or infinite values, the first is sample {first}",
        )


def check_labels(path: Path, y: np.ndarray, num_classes: int | None) -> None:
    """Refuse labels outside ``0 … num_classes - 1``; without ``num_classes``, negative labels
    and classes up to the largest label that never occur (one stray label of 255 among 0 … 9
    would otherwise make 256 classes)."""
    if len(y) == 0:
        return
    high = num_classes - 1 if num_classes is not None else int(y.max())
    outside = (y < 0) | (y > high)
    if outside.any():
        first = int(np.argmax(outside))
        raise bad_file(
            path,
            f"label {int(y[first])} of sample {first} is outside the {high + 1} classes 0..{high} "
            f"({int(outside.sum())} such label(s))",
        )
    if num_classes is None:
        missing = np.setdiff1d(np.arange(high + 1), y)
        if len(missing):
            shown = ", ".join(str(int(c)) for c in missing[:5]) + (", …" if len(missing) > 5 else "")
            raise LrlabError(
                f"IDX file '{path}': its labels run up to {high}, but {len(missing)} of the classes "
                f"0..{high} never occur ({shown}): a label is damaged, or the classes are not "
                f"0..{high}. Declare them with num_classes=N in idx(…)."
            )
