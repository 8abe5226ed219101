"""Child processes that die with their parent.

A worker process (``compare --jobs``, ``tune --workers``, a process of ``train --nproc``) must
never outlive the process that started it: a parent killed with SIGKILL cleans nothing up, and an
orphan would go on writing into run directories, keep the dead parent's stdout and stderr open
(so a pipe on the command's output never closes) and keep torch loaded. Two mechanisms, the
second a fallback for the first:

1. Linux's parent-death signal, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through ctypes: the kernel
   kills the child as soon as its parent dies. The kernel sends it when the *thread* that started
   the child ends, so workers are started from the main thread (which ends with the process),
   never from a helper thread.
2. A daemon thread in the child that checks every :data:`POLL_S` seconds that its parent is still
   its parent (an orphan is handed to init or a subreaper) and kills its own process otherwise;
   it works on every POSIX system. Worker loops also ask :func:`orphaned` between runs.

A child killed this way ends as a SIGKILL would end it: its run resumes from its last checkpoint
(checkpoints are written atomically), its trial is retried after its heartbeat goes stale.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_S = 0.5
_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return function


# resolved here, in the parent, so that a child between fork and exec calls no dynamic loader
_PRCTL = _load_prctl()


def parent_death_signal(signum: int = _KILL) -> bool:
    """Have the kernel send ``signum`` to this process when its parent (thread) ends; whether it
    could (Linux only). Usable as ``subprocess.Popen(preexec_fn=…)``."""
    return _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0


def parent_death_sigterm() -> None:
    """:func:`parent_death_signal` with SIGTERM, for ``preexec_fn`` of a child that cleans up
    its own children when terminated (``torchrun``)."""
    parent_death_signal(signal.SIGTERM)


def orphaned(parent: int) -> bool:
    """Whether this process has lost ``parent`` (it died; the process was handed to another)."""
    return os.getppid() != parent


def die_with_parent(parent: int, *, poll_s: float = POLL_S) -> None:
    """Call first thing in a child started by process ``parent``: arm the parent-death signal and
    start the watchdog thread; a parent already gone ends this process at once."""
    parent_death_signal()
    if orphaned(parent):  # it died before the signal was armed
        die()
    watchdog = threading.Thread(target=_watch, args=(parent, poll_s), name="lrlab-lifeline", daemon=True)
    watchdog.start()


def _watch(parent: int, poll_s: float) -> None:
    while not orphaned(parent):
        time.sleep(poll_s)
    die()


def die() -> NoReturn:
    """End this process at once, as the parent-death signal does: no cleanup that could wait on
    the dead parent (queues, pipes, files being written are left as a kill leaves them)."""
    os.kill(os.getpid(), _KILL)
    time.sleep(1.0)  # the signal is delivered before this returns on POSIX
    os._exit(1)
