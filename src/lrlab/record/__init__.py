"""The record layer: every file lrlab keeps is written here, atomically.

:func:`write_atomic` is the one writer: the bytes go to a temporary ``.<name>.<random>`` beside
the target, are synced to the disk, get the mode a plain ``open()`` would give
(:mod:`lrlab.fileperm`), and only then replace the target, so a reader, a kill or a full disk
never sees half a file. A full disk (or a spent quota) is a :class:`~lrlab.errors.DiskFullError`
that names the file and leaves the previous one as it was. Thin entry points write text, JSON,
torch payloads (``torch.save`` into the open file) and figures (``savefig`` into the open file);
:func:`append_text` appends synced rows. What the run files hold is in :mod:`lrlab.record.files`
(names, reading), :mod:`lrlab.record.metrics` (``metrics.csv``) and :mod:`lrlab.record.summary`
(``summary.json``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lrlab.errors import DiskFullError
from lrlab.fileperm import follow_umask

if TYPE_CHECKING:
    from matplotlib.figure import Figure

AGAIN = "run the same command again"
_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_atomic(
    path: str | os.PathLike[str], fill: Callable[[IO[bytes]], object], *, retry: str = AGAIN
) -> Path:
    """Write ``path`` with ``fill(file)`` (a binary file open on a temporary beside it), then
    sync it, give it the mode the umask says and rename it into place; return the path.

    Whatever ``fill`` or the disk raises, the temporary is removed and ``path`` is as it was.

    Raises:
        DiskFullError: no space left (or the quota spent) while writing; the message says what
            was kept and ends with ``retry`` (what the user runs once space is back).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            fill(file)
            file.flush()
            os.fsync(file.fileno())
        follow_umask(temporary)
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if _disk_full(error):
            kept = "the previous one is kept" if target.exists() else "there is no earlier one"
            raise DiskFullError(
                f"the disk is full: writing {target} failed and {kept}; free some space and {retry}."
            ) from None
        raise
    return target


def _disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` or one it was raised from is a full disk (torch reports a failed write
    of its file as a ``RuntimeError`` raised while handling the ``OSError``)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in _FULL:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def write_text(path: str | os.PathLike[str], text: str, *, retry: str = AGAIN) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda file: file.write(data), retry=retry)


def write_json(path: str | os.PathLike[str], data: Any, *, allow_nan: bool = True) -> Path:
    """Write ``data`` as indented JSON (and a final newline) to ``path`` atomically;
    ``allow_nan=False`` refuses nan and inf (strict JSON) with a ``ValueError``."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=allow_nan) + "\n")


def write_torch(path: str | os.PathLike[str], payload: object, *, retry: str = AGAIN) -> Path:
    """``torch.save(payload)`` into ``path`` atomically (loadable with ``weights_only=True`` when
    the payload is plain data and tensors)."""
    import torch

    return write_atomic(path, lambda file: torch.save(payload, file), retry=retry)


def write_figure(path: str | os.PathLike[str], figure: Figure, image_format: str) -> Path:
    """Draw ``figure`` into ``path`` as ``image_format`` ("png", "svg") atomically."""
    return write_atomic(path, lambda file: figure.savefig(file, format=image_format))


def copy_file(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Copy the file ``source`` to ``path`` atomically."""
    with open(source, "rb") as original:
        return write_atomic(path, lambda file: shutil.copyfileobj(original, file))


def append_text(path: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` to ``path`` (made when missing) and sync it at once: a row that was
    reported is on the disk, and the rows before it stay as they were."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
