"""Ready-made studies for ``lrlab tune --preset NAME``: one TOML experiment file each, with its
``[search]`` table.

>>> from lrlab.tune.presets import load_tune_preset
>>> load_tune_preset("quickstart").search
{'space': 'sgd'}
"""

from __future__ import annotations

import tomllib
from importlib import resources

from lrlab.config import Experiment, validate
from lrlab.errors import LrlabError, unknown

DEFAULT_TUNE_PRESET = "quickstart"


def tune_preset_names() -> list[str]:
    """The names of the shipped tuning presets."""
    files = resources.files(__name__).iterdir()
    return sorted(file.name.removesuffix(".toml") for file in files if file.name.endswith(".toml"))


def tune_preset_text(name: str) -> str:
    """The TOML text of the tuning preset ``name``."""
    names = tune_preset_names()
    if name not in names:
        raise unknown("tune preset", name, names)
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_tune_preset(name: str) -> Experiment:
    """The tuning preset ``name`` as a validated experiment."""
    try:
        return validate(tomllib.loads(tune_preset_text(name)))
    except (tomllib.TOMLDecodeError, LrlabError) as error:
        raise LrlabError(f"tune preset {name!r}: {error}") from None
