"""Ready-made studies for ``lrlab tune --preset NAME``: one TOML experiment file each, with its
``[search]`` table.

>>> from lrlab.tune.presets import load_tune_preset
>>> load_tune_preset("quickstart").search
{'space': 'sgd'}
"""

from __future__ import annotations

from lrlab.config import Experiment
from lrlab.presets import load_preset

DEFAULT_TUNE_PRESET = "quickstart"


def load_tune_preset(name: str) -> Experiment:
    """The tuning preset ``name`` as a validated experiment."""
    return load_preset(name, __name__, "tune preset")
