"""Doctests see every schedule constructor, as a user of ``lrlab.schedules`` would."""

from __future__ import annotations

from typing import Any

import pytest

import lrlab.schedules


@pytest.fixture(autouse=True)
def _schedule_names(doctest_namespace: dict[str, Any]) -> None:
    doctest_namespace.update({name: getattr(lrlab.schedules, name) for name in lrlab.schedules.__all__})
