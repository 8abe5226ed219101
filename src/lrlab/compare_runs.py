"""A comparison's runs: variants × seeds as :class:`RunSpec`, the :class:`Plan` once every check
has passed, each finished run's :class:`RunReport`, and the :class:`RunWatcher` told of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lrlab.config import Experiment, Variant, resolve_variant, validate
from lrlab.errors import invalid
from lrlab.record.files import COMPARISON_RUNS

BASE_VARIANT = "base"


@dataclass(frozen=True)
class RunSpec:
    """One run of a comparison: variant ``variant``, seed number ``index`` (folder ``seed<index>``)."""

    variant: str
    index: int
    experiment: Experiment

    @property
    def folder(self) -> Path:
        """The run directory relative to the comparison directory."""
        return Path(COMPARISON_RUNS) / self.variant / f"seed{self.index}"


@dataclass(frozen=True)
class RunReport:
    """A finished run: its ``summary.json``; ``pid`` and ``seconds`` of the process that trained it
    now (``None`` and 0 for a run finished by an earlier call)."""

    spec: RunSpec
    summary: dict[str, Any]
    pid: int | None
    seconds: float

    @property
    def skipped(self) -> bool:
        """Whether the run was already finished before this call."""
        return self.pid is None


def expand(experiment: Experiment, seeds: int | None = None) -> list[RunSpec]:
    """Variants × seeds as runs, seed by seed (every variant's first seed comes first).

    Args:
        experiment: shared settings and ``[[variant]]`` tables.
        seeds: runs per variant (default: ``experiment.seeds``).
    """
    count = experiment.seeds if seeds is None else seeds
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise invalid("seeds", "an integer in [1, 1000]", count)
    variants = experiment.variant or [Variant(name=BASE_VARIANT)]
    resolved = [(variant.name, resolve_variant(experiment, variant)) for variant in variants]
    return [RunSpec(name, k, _with_seed(shared, k)) for k in range(count) for name, shared in resolved]


def _with_seed(experiment: Experiment, index: int) -> Experiment:
    data = experiment.model_dump()
    data["train"]["seed"] += index
    data["seeds"] = 1
    return validate(data)


@dataclass(frozen=True)
class Plan:
    """What a comparison will do, known once every check has passed: its directory, every run
    (in :func:`expand` order), the summaries of those finished before, and the worker count
    (``jobs``, at most one per CPU and one per pending run; ``lowered`` says why when lower)."""

    directory: Path
    specs: tuple[RunSpec, ...]
    done: dict[Path, dict[str, Any]]
    workers: int
    lowered: str | None = None  # why ``workers`` is below the ``jobs`` asked for, if it is
    stale: dict[Path, str] = field(default_factory=dict)  # old runs trained again, and why

    @property
    def pending(self) -> list[RunSpec]:
        """The runs still to train (or to resume)."""
        return [spec for spec in self.specs if spec.folder not in self.done]


class RunWatcher(Protocol):
    """Told when the checks have passed, and of each run as it finishes (finished ones first)."""

    def start(self, plan: Plan) -> None:
        """Every check passed; training begins."""

    def finished(self, run: RunReport) -> None:
        """``run`` finished (or had finished before)."""
