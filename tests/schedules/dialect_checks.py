"""Checks shared by the dialect tests: PARITY.md table rows, re-derived formulas, round trips."""

from __future__ import annotations

import math
from collections.abc import Callable

from lrlab.schedules import Schedule, parse

STEPS = 1200  # "over >= 1,000 steps"
REL = 1e-9
ABS = 1e-12  # near a zero of the curve the relative error of two correct formulas is meaningless


def assert_row(schedule: Schedule, row: str, start: int = 0) -> None:
    """``row`` is a PARITY.md row (``"0, .333, 1"``): each value to its printed precision.

    An integer (``1``, ``0``) is exact; ``.3333`` is within half a unit of its last digit.
    """
    for offset, text in enumerate(item.strip() for item in row.split(",")):
        step = start + offset
        expected = float(text)
        decimals = len(text.partition(".")[2]) if "." in text else 0
        tolerance = 0.5 * 10.0**-decimals + 1e-12 if decimals else ABS
        actual = schedule(step)
        assert abs(actual - expected) <= tolerance, f"{schedule} at step {step}: {actual} != {text}"


def assert_formula(schedule: Schedule, reference: Callable[[int], float], steps: int = STEPS) -> float:
    """``schedule`` equals ``reference`` at every step in ``[0, steps)``; returns the worst rel error."""
    worst = 0.0
    for step in range(steps):
        actual, expected = schedule(step), reference(step)
        assert math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS), (
            f"{schedule} at step {step}: {actual!r} != {expected!r}"
        )
        if expected:
            worst = max(worst, abs(actual - expected) / abs(expected))
    return worst


def assert_round_trip(schedule: Schedule) -> None:
    """The spec of a preset's output parses back to an equal schedule with the same values."""
    text = str(schedule)
    again = parse(text)
    assert again == schedule, text
    assert str(again) == text
    assert again.values(50) == schedule.values(50)
