"""``metrics.csv``: one row per finished epoch, the columns named by the first row's metrics.

Cells are numbers: whole numbers as integers, others as Python's shortest round-tripping
``repr`` (so ``nan`` and ``inf`` of a diverged run are kept); a metric a row lacks is an empty
cell. :func:`read_metrics` reads the file back as numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lrlab.errors import LrlabError
from lrlab.record.files import read_text, shown

MAX_EPOCHS = 1_000_000  # an epoch number beyond this is a damaged file


def metrics_text(rows: Sequence[Mapping[str, float]], columns: Sequence[str], *, header: bool) -> str:
    """``rows`` as CSV lines of ``columns`` (other keys left out), after a header line when
    ``header``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows([{key: _cell(row.get(key)) for key in columns} for row in rows])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def read_metrics(path: Path) -> tuple[dict[str, float], ...]:
    """The rows of a metrics.csv as numbers (empty cells left out); it must have an epoch column.

    ``nan`` and ``inf`` cells are kept (a diverged run records them; figures leave them out and
    the page counts them); a cell that is not a number, or an epoch that is not a finite whole
    number >= 0, is an :class:`~lrlab.errors.LrlabError` naming the line and the column.
    """
    rows = list(csv.DictReader(io.StringIO(read_text(path))))
    parsed: list[dict[str, float]] = []
    for line, row in enumerate(rows, start=2):
        numbers: dict[str, float] = {}
        for key, value in row.items():
            if not key or value is None or not isinstance(value, str) or not value.strip():
                continue
            try:
                numbers[key] = float(value)
            except ValueError:
                raise LrlabError(
                    f"{path}, line {line}: column {key!r} holds {shown(value)}, not a number; "
                    "correct or empty the cell."
                ) from None
        epoch = numbers.get("epoch")
        if epoch is None:
            raise LrlabError(f"{path}, line {line}: no epoch.")
        if not (math.isfinite(epoch) and epoch >= 0 and epoch.is_integer() and epoch <= MAX_EPOCHS):
            raise LrlabError(
                f"{path}, line {line}: epoch must be a whole number in [0, {MAX_EPOCHS}], "
                f"got {shown(row.get('epoch'))}."
            )
        parsed.append(numbers)
    return tuple(parsed)
