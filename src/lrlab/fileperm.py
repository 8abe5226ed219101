"""File modes that follow the umask.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask; a file renamed into
place from it keeps that mode, so run files would be unreadable by the group and others under
the usual umask 022. The atomic writer (:func:`lrlab.record.write_atomic`) calls
:func:`follow_umask` on the temporary before renaming it into place.
"""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where it can be, without changing it)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set and restore at once
    os.umask(mask)
    return mask


def follow_umask(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode a plain ``open(path, "w")`` would have: ``0o666 & ~umask``."""
    os.chmod(path, 0o666 & ~current_umask())
