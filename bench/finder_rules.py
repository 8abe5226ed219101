"""Screen candidate rules for the range test's default without training: each rule reads the
sweeps stored by ``finder_quality.py`` and its LR is scored by interpolating that seed's grid
scores (linear in log LR; where a neighbour diverged, the worse of the two, and the reading
counts as risky). Prints the median and worst gap per half, as ``finder_quality.py`` does for
the rules it trains. Run ``finder_quality.py`` first: it fills the cache.

Usage::

    .venv/bin/python bench/finder_rules.py
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finder_cases import CASES, Case, budget_steps, diverged, trivial
from finder_quality import CACHE, Cache, curve_of, gap

from lrlab.finder.curve import Curve
from lrlab.finder.descent import find_descent
from lrlab.finder.suggest import combine, near_steepest, settled_bottom

Rule = Callable[[Case, Curve], float | None]


def bounds(curve: Curve) -> tuple[float, float, float] | None:
    """The lowest loss before any spike, the steepest fall near it, and the default's confidence."""
    descent = find_descent(curve)
    if isinstance(descent, str):
        return None
    steep = curve.values[near_steepest(curve, descent)]
    return curve.values[settled_bottom(descent)], steep, combine([curve]).confidence or 0.0


def two_bounds(below: float, above: float = 2.0, lean: float = 1.0, unsure: float = 0.25) -> Rule:
    """``min(lowest / below, above × steepest)``, ÷ ``lean`` below confidence ``unsure``."""

    def rule(case: Case, curve: Curve) -> float | None:
        found = bounds(curve)
        if found is None:
            return None
        lowest, steep, confidence = found
        lr = min(lowest / below, above * steep)
        return lr / lean if confidence < unsure else lr

    return rule


def budget_aware(short_below: float) -> Rule:
    """``two_bounds(3)``, but ``lowest / short_below`` for trainings no longer than the sweep."""

    def rule(case: Case, curve: Curve) -> float | None:
        short = budget_steps(case) <= len(curve.values)
        return two_bounds(short_below if short else 3.0)(case, curve)

    return rule


RULES: dict[str, Rule] = {
    "default: min(lowest / 3, 2 × steepest)": two_bounds(3),
    "min(lowest / 2, 2 × steepest)": two_bounds(2),
    "min(lowest / 4, 2 × steepest)": two_bounds(4),
    "min(lowest / 3, 1.5 × steepest)": two_bounds(3, 1.5),
    "min(lowest / 3, 3 × steepest)": two_bounds(3, 3.0),
    "lean ÷ 2 below confidence 0.5": two_bounds(3, lean=2.0, unsure=0.5),
    "lean ÷ 1.5 below confidence 0.5": two_bounds(3, lean=1.5, unsure=0.5),
    "budget-aware: lowest / 2 when short": budget_aware(2),
    "budget-aware: lowest / 1.5 when short": budget_aware(1.5),
}


def interpolated(case: Case, cache: Cache, seed: int, lr: float | None) -> tuple[float, bool]:
    """The seed's grid score at ``lr`` and whether a diverged neighbour was involved."""
    grid = []
    for point in case.grid:
        value = cache[("score", case.name, point, seed)]
        grid.append((point, trivial(case) if value is None or diverged(case, value) else value))
    if lr is None:
        return trivial(case), False
    if lr <= grid[0][0]:
        return grid[0][1], False
    if lr >= grid[-1][0]:
        return grid[-1][1], grid[-1][1] == trivial(case)
    upper = next(i for i, (point, _) in enumerate(grid) if point >= lr)
    (a_lr, a), (b_lr, b) = grid[upper - 1], grid[upper]
    share = math.log(lr / a_lr) / math.log(b_lr / a_lr)
    if trivial(case) in (a, b) and share > 0.05:
        worse = min(a, b) if case.higher_is_better else max(a, b)
        return worse, b == trivial(case)
    return a + share * (b - a), False


def judge(rule: Rule, cache: Cache) -> dict[str, tuple[float, float, int]]:
    """Per half: median gap, worst gap, risky readings."""
    rows: dict[str, list[tuple[float, int]]] = {"dev": [], "val": []}
    for case in CASES:
        seeds = range(case.seeds)
        means = [statistics.fmean(interpolated(case, cache, s, lr)[0] for s in seeds) for lr in case.grid]
        best = max(means) if case.higher_is_better else min(means)
        scored = [interpolated(case, cache, s, rule(case, curve_of(case, s, cache))) for s in seeds]
        value = statistics.fmean(score for score, _ in scored)
        rows[case.half].append((gap(case, best, value), sum(risky for _, risky in scored)))
    return {
        half: (statistics.median(g for g, _ in found), max(g for g, _ in found), sum(r for _, r in found))
        for half, found in rows.items()
    }


def main() -> None:
    cache = Cache(CACHE)
    print(f"{'rule':<42} {'dev median / worst (risky)':>28} {'val median / worst (risky)':>28}")
    for name, rule in RULES.items():
        halves = judge(rule, cache)
        shown = [f"{m:6.2f} / {w:6.2f} ({r})" for m, w, r in halves.values()]
        print(f"{name:<42} {shown[0]:>28} {shown[1]:>28}")


if __name__ == "__main__":
    main()
