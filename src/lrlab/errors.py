"""The one error family of lrlab and its message template.

Every problem with user input is an :class:`LrlabError` (a :class:`ValueError`) whose message
names the bad value and, where there is an obvious one, the fix.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


class LrlabError(ValueError):
    """Bad input to lrlab: the message names the bad value and the fix."""


class DiskFullError(OSError):
    """No space left while lrlab wrote a file: the message says which, and what was kept.

    An :class:`OSError` (the CLI's file-system error, exit 1) whose text is one plain sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC


def invalid(param: str, constraint: str, value: object, fix: str = "") -> LrlabError:
    """Build the standard error: "`param` must be <constraint>, got param=<value>." plus a fix."""
    message = f"{param} must be {constraint}, got {param}={value!r}."
    return LrlabError(f"{message} {fix}" if fix else message)


def unknown(kind: str, name: str, known: Iterable[str]) -> LrlabError:
    """Build "unknown <kind> 'name'; did you mean 'x'? Known: a, b, c." for a bad name."""
    choices = sorted(known)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return LrlabError(f"unknown {kind} {name!r}{hint} Known: {', '.join(choices)}.")
