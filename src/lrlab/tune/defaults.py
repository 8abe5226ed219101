"""Defaults of ``lrlab tune`` that its command line shows: importing this loads neither optuna
nor torch."""

from __future__ import annotations

DEFAULT_TRIALS = 30  # a study's finished trials when neither --trials nor --budget-epochs is given
