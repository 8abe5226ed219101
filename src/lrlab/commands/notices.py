"""Warnings of lrlab's library code, printed by the CLI as one line each on stderr
(``lrlab: warning: …``) instead of Python's two-line ``file:line: Category: message`` form."""

from __future__ import annotations

import sys
import warnings
from typing import TextIO


def show_as_lines() -> None:
    """Print :class:`~lrlab.train.horizon.ScheduleHorizonWarning` as ``lrlab: warning: …`` lines;
    other warnings keep Python's form."""
    from lrlab.train.horizon import ScheduleHorizonWarning

    original = warnings.showwarning
    if getattr(original, "lrlab", False):
        return

    def show(  # noqa: PLR0917 (warnings.showwarning's signature)
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, ScheduleHorizonWarning):
            print(f"lrlab: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    show.lrlab = True  # type: ignore[attr-defined]
    warnings.showwarning = show
