"""Run records → rows: one row per variant (mean and spread over seeds) and ``summary.csv``.

:func:`aggregate` reduces the :class:`~lrlab.report.runs.RunRecord` of a comparison
(:func:`~lrlab.report.runs.load_runs`) to one :class:`VariantRow` per variant (mean and sample
standard deviation over seeds), which :func:`write_summary_csv` writes;
:mod:`lrlab.report.curves` turns the records into the series the figures draw. The numbers come
from the runs' summary.json (:mod:`lrlab.record.summary`, older ones too); a number that is not
one is an :class:`~lrlab.errors.LrlabError` that names the file and the key.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab.errors import LrlabError
from lrlab.record import write_text
from lrlab.record.files import SUMMARY_JSON, dig, shown
from lrlab.record.summary import recorded_stop
from lrlab.report.runs import RunRecord, group_by_variant

SUMMARY_CSV = "summary.csv"

STATS = (
    "final_val_acc",
    "final_val_loss",
    "best_val_acc",
    "best_val_loss",
    "best_epoch",
    "test_acc",
    "test_loss",
    "epochs",
    "seconds",
)
"""The statistics of a :class:`VariantRow`, all from the runs' summary.json: ``final_<m>`` the
last epoch's metric; ``best_<m>`` and ``best_epoch`` at the best epoch by the monitored metric
(``early_stopping.monitor``: the epoch best.pt holds); ``test_<m>`` the test split after the
fit; ``epochs`` the epochs trained; ``seconds`` the training time (``train_time_s``, resumed
runs included)."""
_SUMMARY_PARTS = {"final": ("final_val_acc", "final_val_loss"), "best": ("best_val_acc", "best_val_loss")}


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (n - 1; ``None`` for a single run) of ``count`` runs."""

    mean: float
    std: float | None
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """The statistic of ``values`` (at least one)."""
        if not all(map(math.isfinite, values)):  # a nan or inf (a diverged or edited run) shows as such
            mean = sum(values) / len(values)  # inf - inf: nan
            return cls(mean, math.nan if len(values) > 1 else None, len(values))
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, len(values))

    def format(self, spec: str = ".4g") -> str:
        """``"mean ± std"`` (just the mean for one run): the mean in ``spec``, the std with as
        many decimals as the mean."""
        mean = f"{self.mean:{spec}}"
        if self.std is None:
            return mean
        if "e" in mean or not math.isfinite(self.mean):
            return f"{mean} ± {self.std:{spec}}"
        return f"{mean} ± {self.std:.{len(mean.partition('.')[2])}f}"


@dataclass(frozen=True)
class VariantRow:
    """One variant over its seeds: ``stats`` maps names of :data:`STATS` to a :class:`Stat`
    (a name is left out when no run records it, e.g. accuracies of a regression);
    ``seeds`` are the runs' training seeds; ``statuses`` and ``stop_reasons`` hold one entry per
    run; ``monitor`` is the metric the best epoch is chosen by."""

    variant: str
    seeds: tuple[int, ...]
    stats: Mapping[str, Stat]
    statuses: tuple[str, ...]
    stop_reasons: tuple[str, ...]
    monitor: str

    def status(self) -> str:
        """``finished`` when every run says so, else the counts: ``early-stopped ×1, finished ×1``."""
        counts = Counter(self.statuses)
        if len(counts) == 1:
            return self.statuses[0]
        return ", ".join(f"{status} ×{count}" for status, count in sorted(counts.items()))

    def reasons(self) -> str:
        """The distinct stop reasons, counted: ``"finished 10 epochs ×2"``."""
        counts = {reason: self.stop_reasons.count(reason) for reason in self.stop_reasons}
        return "; ".join(f"{reason} ×{count}" for reason, count in counts.items())


def _number(path: Path, where: str, value: object) -> float:
    """A number of summary.json (``where`` names it): an int or float (nan and inf kept, they
    show as such); anything else is an error naming the file and the key."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise LrlabError(
        f"{path}: {where} must be a number, got {shown(value)}; correct the file or rerun the run."
    )


def _run_values(summary: Mapping[str, Any], path: Path = Path(SUMMARY_JSON)) -> dict[str, float]:
    """The numbers of one run's summary.json that :func:`aggregate` averages."""
    values: dict[str, float] = {}
    for part, (acc, loss) in _SUMMARY_PARTS.items():
        section = summary.get(part)
        if isinstance(section, Mapping):
            values |= {
                name: _number(path, f"{part}.{key}", section[key])
                for name, key in ((acc, "val_acc"), (loss, "val_loss"))
                if key in section
            }
            if part == "best" and "epoch" in section:
                values["best_epoch"] = _number(path, "best.epoch", section["epoch"])
    test = summary.get("test")
    if isinstance(test, Mapping):
        values |= {
            key: _number(path, f"test.{key}", test[key]) for key in ("test_acc", "test_loss") if key in test
        }
    for name, key in (("epochs", "epochs"), ("seconds", "train_time_s")):
        if key in summary:
            values[name] = _number(path, key, summary[key])
    return values


def aggregate(records: Iterable[RunRecord]) -> list[VariantRow]:
    """One :class:`VariantRow` per variant, in the order variants first appear in ``records``."""
    rows = []
    for variant, runs in group_by_variant(records).items():
        per_run = [_run_values(record.summary, record.path / SUMMARY_JSON) for record in runs]
        stats = {
            name: Stat.of(values)
            for name in STATS
            if (values := [numbers[name] for numbers in per_run if name in numbers])
        }
        stops = [recorded_stop(record.summary) for record in runs]
        statuses = tuple(stop["kind"] for stop in stops)
        reasons = tuple(stop["detail"] for stop in stops)
        monitor = str(dig(runs[0].summary, "monitor", "metric", default="val_loss"))
        seeds = tuple(record.train_seed for record in runs)
        rows.append(VariantRow(variant, seeds, stats, statuses, reasons, monitor))
    return rows


SUMMARY_COLUMNS = (
    "variant",
    "runs",
    *(f"{name}_{part}" for name in STATS[:-2] for part in ("mean", "std")),
    "epochs_mean",
    "status",
    "seconds_mean",
    "seconds_std",
    "best_by",
)
"""The columns of summary.csv, the same whether ``lrlab compare`` or ``lrlab report`` writes it.
``best_<metric>`` and ``best_epoch`` are at the epoch where the metric named in ``best_by`` (the
monitor, ``early_stopping.monitor``) was best: ``best_val_acc`` is the val_acc at the best
val_loss epoch when ``best_by`` is val_loss. Readers look columns up by name, so columns added
at the end keep older readers working."""


def summary_csv_text(rows: Iterable[VariantRow]) -> str:
    """The CSV :func:`write_summary_csv` writes: :data:`SUMMARY_COLUMNS`, one line per row;
    ``<stat>_mean``/``_std`` of :data:`STATS`, a cell left empty when no run records the
    metric (or, for a std, when there is one run); ``status`` as :meth:`VariantRow.status`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells: dict[str, object] = {
            "variant": row.variant,
            "runs": len(row.seeds),
            "status": row.status(),
            "best_by": row.monitor,
        }
        for name, stat in row.stats.items():
            cells |= {f"{name}_mean": stat.mean, f"{name}_std": "" if stat.std is None else stat.std}
        writer.writerow({key: cells.get(key, "") for key in SUMMARY_COLUMNS})
    return buffer.getvalue()


def write_summary_csv(rows: Iterable[VariantRow], path: str | os.PathLike[str]) -> Path:
    """Write :func:`summary_csv_text` of ``rows`` to ``path`` atomically; return the path."""
    return write_text(path, summary_csv_text(rows))


def stat_heading(name: str, monitors: Sequence[str]) -> str:
    """What a column of :data:`STATS` holds, in words a table can head it with: the best-epoch
    metrics are named for the metric that chose the epoch (``"val_acc at best val_loss"``, not
    ``"best val_acc"``, when the monitor is val_loss); ``monitors`` are the rows' monitored
    metrics (one name, or several when variants differ)."""
    monitor = monitors[0] if len(set(monitors)) == 1 else None
    chosen = f"best {monitor}" if monitor else "the best epoch"
    if name == "best_epoch":
        return f"epoch of best {monitor}" if monitor else "best epoch (by each monitor)"
    part, _, metric = name.partition("_")
    if part == "best":
        return f"best {metric}" if metric == monitor else f"{metric} at {chosen}"
    if part == "final":
        return f"final {metric}"
    return name
