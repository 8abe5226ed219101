"""One process at a time trains a run directory: an exclusive ``flock`` on ``<run dir>/.lock``.

The lock belongs to the open file, so the kernel drops it when the holder ends, however it ends
(SIGKILL included): a lock never outlives its process. The file holds the holder's pid, for
messages. A claim that ends normally deletes the file while still holding it, so a finished run
directory holds no lock file; a process that locked a file deleted meanwhile (it waited on it)
sees that it is no longer the one at the path and tries again. A killed holder leaves the file,
unlocked and harmless. Within one process a claim is re-entrant: a second claim of a folder this
process already holds returns at once and leaves the lock to the first.

Without ``fcntl`` (Windows) claims are no-ops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lrlab.errors import LrlabError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"
_held: dict[Path, int] = {}  # run directory → the descriptor that holds its lock in this process
_guard = threading.Lock()


def _key(folder: Path) -> Path:
    return Path(os.path.abspath(folder))


def holder(folder: str | Path) -> int | None:
    """The pid written by the process that last claimed ``folder`` (``None`` when unknown)."""
    try:
        text = (Path(folder) / LOCK).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def acquire(folder: str | Path, *, wait: bool) -> bool:
    """Claim ``folder`` (made if missing) for this process; return whether this call took the
    lock (``False``: this process held it already, or locks are not available).

    Args:
        folder: the run directory.
        wait: wait for another process's claim to end; otherwise refuse at once.

    Raises:
        LrlabError: ``wait`` is false and another process holds the run.
    """
    key = _key(Path(folder))
    if fcntl is None:
        return False
    with _guard:
        if key in _held:
            return False
    key.mkdir(parents=True, exist_ok=True)
    while True:  # not under _guard: waiting here must not stop this process's other claims
        descriptor = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(descriptor, key, wait)
            if _is_at_path(descriptor, key / LOCK):
                os.ftruncate(descriptor, 0)
                os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
                break
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # its holder deleted it after we opened it: lock the new one
    with _guard:
        _held[key] = descriptor
    return True


def _is_at_path(descriptor: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def _lock(descriptor: int, folder: Path, wait: bool) -> None:
    if wait:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = holder(folder)
        who = f"process {pid}" if pid is not None else "another process"
        raise LrlabError(
            f"run directory {folder} is being trained by {who}; wait for it to end (a run is never "
            "trained by two processes at once), or pass --out DIR to train a new run elsewhere."
        ) from None


def release(folder: str | Path) -> None:
    """End this process's claim of ``folder`` (nothing when it holds none)."""
    key = _key(Path(folder))
    with _guard:
        descriptor = _held.pop(key, None)
        if descriptor is not None:
            (key / LOCK).unlink(missing_ok=True)  # while still holding it (see the module docs)
            os.close(descriptor)  # closing the only descriptor of the open file drops the lock


def held(folder: str | Path) -> bool:
    """Whether this process holds ``folder``."""
    with _guard:
        return _key(Path(folder)) in _held


@contextmanager
def claim(folder: str | Path, *, wait: bool = True) -> Iterator[None]:
    """Hold ``folder`` for the ``with`` block (see :func:`acquire`)."""
    took = acquire(folder, wait=wait)
    try:
        yield
    finally:
        if took:
            release(folder)
