"""The ``[search]`` grammar, as :mod:`lrlab.tune` uses it.

It belongs to the experiment file, so it lives below :mod:`lrlab.config` (which checks
``[search]`` when a file is loaded, and never imports :mod:`lrlab.tune`):
:mod:`lrlab.config.search` (the keys and their domains) and :mod:`lrlab.config.distributions`
(``loguniform(…)``, ``choice(…)``, …). :func:`normalize_search` checks a table against the
experiment's own settings.
"""

from __future__ import annotations

from lrlab.config.distributions import Distribution, parse_distribution
from lrlab.config.schema import normalize_search
from lrlab.config.search import AUTO_SCHEDULES, BUILTIN_SPACES, KEYS, check_values

__all__ = [
    "AUTO_SCHEDULES",
    "BUILTIN_SPACES",
    "KEYS",
    "Distribution",
    "check_values",
    "normalize_search",
    "parse_distribution",
]
