"""Exact-match presets: other libraries' schedules as plain lrlab schedules.

Each preset takes the mirrored library's own names and arguments and returns a
:class:`~lrlab.schedules.Schedule` built from lrlab's families and combinators (so ``str()``
gives its spec) that reproduces that library's values step for step, off-by-ones included.
What cannot be expressed exactly raises :class:`~lrlab.errors.LrlabError` naming the option.
"""

from lrlab.schedules.dialects.huggingface import from_hf
from lrlab.schedules.dialects.keras import from_keras
from lrlab.schedules.dialects.pytorch import from_torch
from lrlab.schedules.dialects.timm import from_timm

__all__ = ["from_hf", "from_keras", "from_timm", "from_torch"]
