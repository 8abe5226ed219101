"""Ready-made comparisons for ``lrlab compare --preset NAME``: one readable TOML file each, in
this package and, identical, in the repository's ``examples/`` folder.

>>> from lrlab.presets import load_preset, preset_names
>>> "quickstart" in preset_names()
True
>>> [variant.name for variant in load_preset("quickstart").variant]
['constant', 'inverse-sqrt', 'multistep', 'warmup-cosine']
"""

from __future__ import annotations

import tomllib
from importlib import resources

from lrlab.config import Experiment, validate
from lrlab.errors import LrlabError, unknown

DEFAULT_PRESET = "quickstart"


def preset_names() -> list[str]:
    """The names of the shipped presets."""
    files = resources.files(__name__).iterdir()
    return sorted(file.name.removesuffix(".toml") for file in files if file.name.endswith(".toml"))


def preset_text(name: str) -> str:
    """The TOML text of the preset ``name``."""
    names = preset_names()
    if name not in names:
        raise unknown("preset", name, names)
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_preset(name: str) -> Experiment:
    """The preset ``name`` as a validated experiment (its ``name`` is the preset's)."""
    text = preset_text(name)
    try:  # a shipped file is tested; this names it should an edited copy break
        return validate({"name": name, **tomllib.loads(text)})
    except (tomllib.TOMLDecodeError, LrlabError) as error:
        raise LrlabError(f"preset {name!r}: {error}") from None
