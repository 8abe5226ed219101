"""Doctests see every schedule constructor, as a user of ``lrlab.schedules`` would."""

from __future__ import annotations

from typing import Any

import pytest

import lrlab.schedules


@pytest.fixture(autouse=True)
def _schedule_names(doctest_namespace: dict[str, Any]) -> None:
    doctest_namespace.update({name: getattr(lrlab.schedules, name) for name in lrlab.schedules.__all__})


def _missing(*modules: str) -> bool:
    import importlib.util

    return any(importlib.util.find_spec(module) is None for module in modules)


# The integrations' modules import their libraries (optional extras): without them, no doctests
collect_ignore = [
    path
    for path, needs in (
        ("src/lrlab/integrations/lightning.py", ("lightning",)),
        ("src/lrlab/integrations/hf.py", ("transformers", "accelerate")),
    )
    if _missing(*needs)
]
