"""A run directory's housekeeping before a fit writes into it (the fit holds its lock, see
:mod:`lrlab.runlock`): what a killed save left behind is removed, and a ``config.json`` that
cannot be read is refused before a resume trusts it.

Every file of a run is written atomically (:mod:`lrlab.record`): to a temporary
``.<name>.<random>`` beside it, then renamed into place. A process killed mid-save leaves the
temporary (up to a checkpoint's size); :func:`remove_temporaries` deletes them, at the start of a
fit and of a resume.
"""

from __future__ import annotations

import json
from pathlib import Path

from lrlab.errors import LrlabError
from lrlab.record.files import CONFIG_JSON, RUN_FILES


def temporaries(folder: Path) -> list[Path]:
    """The temporaries of unfinished saves in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(path for name in RUN_FILES for path in folder.glob(f".{name}.*") if path.is_file())


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries of unfinished saves in ``folder``; return them. Call it only while
    holding the run (another process's save in progress would lose its file)."""
    found = temporaries(folder)
    for path in found:
        path.unlink(missing_ok=True)
    return found


def check_config(folder: Path) -> None:
    """Refuse a ``config.json`` in ``folder`` that is not the record of an experiment (torn,
    edited, overwritten): a resume would continue a run whose settings nobody knows.

    Raises:
        LrlabError: one line naming the file, the problem and the fix.
    """
    from lrlab.config import validate

    path = folder / CONFIG_JSON
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, f"not JSON: {error}") from None
    experiment = record.get("experiment") if isinstance(record, dict) else None
    if not isinstance(experiment, dict):
        raise _damaged(path, "no 'experiment' table")
    try:
        validate(experiment)
    except LrlabError as error:
        raise _damaged(path, str(error).splitlines()[0] if str(error) else "bad settings") from None


def _damaged(path: Path, problem: str) -> LrlabError:
    return LrlabError(
        f"{path} is damaged ({problem}); the run cannot be resumed from it. Delete its folder "
        f"{path.parent} to train the run afresh."
    )
