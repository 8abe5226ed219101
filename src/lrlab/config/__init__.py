"""Experiment files: the TOML that ``lrlab train`` reads, as validated pydantic models.

Every key has a default, so an empty file (or no file) is a valid experiment: the embedded
``digits`` quickstart. Unknown keys and bad values are errors that name the key path and the
valid keys or the constraint, in one line::

    [train]
    epoch = 3       # lrlab: error: unknown key 'train.epoch'; did you mean 'epochs'? ...
    batch_size = 0  # lrlab: error: train.batch_size must be an integer >= 1, got ...

Specs (``schedule``, ``optimizer.name``, ``task.dataset``, ``task.model``, ``task.augment``) are
checked when the file is loaded and stored in canonical form. Paths are relative to the working
directory. Later tables (``[search]`` for tuning) are new fields of :class:`Experiment` built
from :class:`Section`; the error messages need no change for them.

Comparisons (``lrlab compare``) add ``seeds`` (runs per variant) and ``[[variant]]`` tables: each
has a ``name`` (its folder) and may set ``schedule`` and partial ``[variant.task]``,
``[variant.train]``, ``[variant.optimizer]``, ``[variant.early_stopping]``, ``[variant.plateau]``
and ``[variant.divergence]`` tables, whose keys replace the shared ones (a value is replaced
whole, ``lr_multipliers`` included). Each merged variant is validated when the file is loaded;
its errors start with ``variant 'NAME':``. ``lrlab train`` refuses a file with variants.

Modules: :mod:`~lrlab.config.sections` (the tables), :mod:`~lrlab.config.schema` (the
experiment, its variants and ``[search]``), :mod:`~lrlab.config.messages` (one-line errors),
:mod:`~lrlab.config.files` (TOML in and out), :mod:`~lrlab.config.flags` and
:mod:`~lrlab.config.settings` (the settings that are flags and overrides, marked on their
fields), :mod:`~lrlab.config.search` and :mod:`~lrlab.config.distributions` (the ``[search]``
grammar).
"""

from __future__ import annotations

from lrlab.config.files import load_experiment, to_toml
from lrlab.config.messages import Constraint
from lrlab.config.schema import (
    VARIANT_TABLES,
    Experiment,
    FolderName,
    ScheduleSpec,
    Variant,
    normalize_search,
    resolve_variant,
    validate,
    variants_as_search,
)
from lrlab.config.sections import (
    Divergence,
    EarlyStopping,
    Finetune,
    Metric,
    Mode,
    Optimizer,
    Plateau,
    Section,
    Task,
    Train,
)
from lrlab.config.settings import SETTINGS, Setting, apply_overrides, settings_of

__all__ = [
    "SETTINGS",
    "VARIANT_TABLES",
    "Constraint",
    "Divergence",
    "EarlyStopping",
    "Experiment",
    "Finetune",
    "FolderName",
    "Metric",
    "Mode",
    "Optimizer",
    "Plateau",
    "ScheduleSpec",
    "Section",
    "Setting",
    "Task",
    "Train",
    "Variant",
    "apply_overrides",
    "load_experiment",
    "normalize_search",
    "resolve_variant",
    "settings_of",
    "to_toml",
    "validate",
    "variants_as_search",
]
