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


def preset_names(package: str = __name__) -> list[str]:
    """The names of the presets shipped in ``package`` (this one by default)."""
    files = resources.files(package).iterdir()
    return sorted(file.name.removesuffix(".toml") for file in files if file.name.endswith(".toml"))


def preset_text(name: str, package: str = __name__, kind: str = "preset") -> str:
    """The TOML text of the preset ``name`` in ``package``."""
    names = preset_names(package)
    if name not in names:
        raise unknown(kind, name, names)
    return resources.files(package).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_preset(name: str, package: str = __name__, kind: str = "preset") -> Experiment:
    """The preset ``name`` as a validated experiment (named after the preset unless its file
    says otherwise)."""
    text = preset_text(name, package, kind)
    try:  # a shipped file is tested; this names it should an edited copy break
        return validate({"name": name, **tomllib.loads(text)})
    except (tomllib.TOMLDecodeError, LrlabError) as error:
        raise LrlabError(f"{kind} {name!r}: {error}") from None
