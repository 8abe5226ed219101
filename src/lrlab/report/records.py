"""Run directories → tidy records and rows: the data behind every report (no plotting here).

A comparison directory, as ``lrlab compare`` writes it::

    <dir>/experiment.toml          the resolved experiment, with its [[variant]] tables
    <dir>/runs/<variant>/seed<k>/  one run directory per variant and seed (config.json,
                                   metrics.csv, summary.json)
    <dir>/summary.csv              one row per variant (:func:`aggregate`, :func:`write_summary_csv`)

:func:`load_runs` reads every run into a :class:`RunRecord`; :func:`aggregate` reduces them to
one :class:`VariantRow` per variant (mean and sample standard deviation over seeds), which
:func:`write_summary_csv` writes; :mod:`lrlab.report.curves` turns them into the series the
figures draw. A missing or damaged file is an :class:`~lrlab.errors.LrlabError` that names it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import statistics
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrlab.errors import LrlabError
from lrlab.fileperm import follow_umask

EXPERIMENT = "experiment.toml"
RUNS = "runs"
SUMMARY_CSV = "summary.csv"
_SEED_DIR = re.compile(r"seed(\d+)")
MAX_EPOCHS = 1_000_000  # a run's planned epochs in config.json; more is a damaged file
MAX_STEPS_PER_EPOCH = 10**9

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
class RunRecord:
    """One run directory of a comparison, as read from its files.

    ``metrics`` holds metrics.csv's rows (one per finished epoch); ``epochs`` is the number of
    epochs the run was set to train (``train.epochs``), which early stopping may cut short;
    ``steps_per_epoch`` comes from metrics.csv or summary.json, else from the data size and
    batch size in config.json (``None`` when none of them records it).
    """

    variant: str
    seed: int
    path: Path
    metrics: tuple[Mapping[str, float], ...]
    summary: Mapping[str, Any]
    config: Mapping[str, Any]
    schedule: str
    interval: str
    epochs: int
    steps_per_epoch: int | None
    lr: float

    def column(self, name: str) -> list[tuple[int, float]]:
        """``(epoch, value)`` for every metrics row that has ``name``."""
        return [(int(row["epoch"]), row[name]) for row in self.metrics if name in row]

    @property
    def train_seed(self) -> int:
        """The seed the run trained with (config.json's ``seed``; else the folder's number)."""
        seed = self.config.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else self.seed

    @property
    def versions(self) -> Mapping[str, str]:
        """The versions config.json records (lrlab, torch, numpy, python)."""
        versions = self.config.get("versions")
        return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {}


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


def read_experiment(compare_dir: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """The text of ``<dir>/experiment.toml`` and its parsed tables."""
    path = Path(compare_dir) / EXPERIMENT
    text = _read(path)
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LrlabError(f"{path}: not valid TOML: {error}.") from None


def load_runs(compare_dir: str | os.PathLike[str]) -> list[RunRecord]:
    """Every run under ``<dir>/runs/<variant>/seed<k>/``: variants in the order of the
    experiment's ``[[variant]]`` tables (others after, by name), seeds by number.

    Raises:
        LrlabError: ``compare_dir`` holds no runs, or a run's file is missing or damaged.
    """
    root = Path(compare_dir)
    runs = root / RUNS
    seed_dirs = sorted(runs.glob("*/seed*")) if runs.is_dir() else []
    found = [(d.parent.name, int(m[1]), d) for d in seed_dirs if (m := _SEED_DIR.fullmatch(d.name))]
    if not found:
        raise LrlabError(
            f"{root} is not a comparison directory: it holds no {RUNS}/<variant>/seed<k>/ run "
            "directories. Point at the folder 'lrlab compare' wrote."
        )
    order = _variant_order(root)
    found.sort(key=lambda item: (order.get(item[0], len(order)), item[0], item[1]))
    return [_load_run(variant, seed, path) for variant, seed, path in found]


def _variant_order(root: Path) -> dict[str, int]:
    if not (root / EXPERIMENT).exists():
        return {}
    _, experiment = read_experiment(root)
    variants = experiment.get("variant", [])
    names = [v.get("name") for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []
    return {str(name): index for index, name in enumerate(names)}


def _load_run(variant: str, seed: int, path: Path) -> RunRecord:
    config = _read_json(path / "config.json")
    if not (path / "summary.json").exists() and (path / "metrics.csv").exists():
        raise LrlabError(
            f"{path / 'summary.json'} is missing: the run has not finished. "
            "Run the same 'lrlab compare' command again to finish it."
        )
    summary = _read_json(path / "summary.json")
    metrics = read_metrics(path / "metrics.csv")
    try:
        experiment = config["experiment"]
        train = experiment["train"]
        schedule, interval = str(experiment["schedule"]), str(train["interval"])
        epochs, lr = train["epochs"], float(experiment["optimizer"]["lr"])
    except (KeyError, TypeError, ValueError) as error:
        raise LrlabError(f"{path / 'config.json'}: no resolved experiment ({error!r} is missing).") from None
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise LrlabError(
            f"{path / 'config.json'}: experiment.train.epochs must be a whole number in [1, {MAX_EPOCHS}], "
            f"got {_shown(epochs)}; correct the file or rerun the run."
        )
    if interval not in ("step", "epoch"):
        raise LrlabError(
            f"{path / 'config.json'}: experiment.train.interval must be 'step' or 'epoch', "
            f"got {_shown(interval)}."
        )
    steps = _steps_per_epoch(metrics, summary, config)
    return RunRecord(variant, seed, path, metrics, summary, config, schedule, interval, epochs, steps, lr)


def _steps_per_epoch(
    metrics: Sequence[Mapping[str, float]], summary: Mapping[str, Any], config: Mapping[str, Any]
) -> int | None:
    """Recorded steps / epochs, else ceil(training examples / batch size) from config.json;
    ``None`` when nothing sensible (finite, at most :data:`MAX_STEPS_PER_EPOCH`) is recorded."""
    candidates: list[float] = []
    if metrics:
        step, epoch = metrics[-1].get("step", 0.0), metrics[-1].get("epoch", 0.0)
        if math.isfinite(step) and step > 0 and epoch > 0:
            candidates.append(step / epoch)
    steps, epochs = summary.get("steps"), summary.get("epochs")
    if isinstance(steps, int) and isinstance(epochs, int) and _count(steps) and _count(epochs):
        candidates.append(steps / epochs)
    size, batch = dig(config, "data", "train"), dig(config, "experiment", "train", "batch_size")
    if isinstance(size, int) and isinstance(batch, int) and _count(size) and _count(batch):
        candidates.append(-(-size // batch))
    for candidate in candidates:
        if 1 <= round(candidate) <= MAX_STEPS_PER_EPOCH:
            return round(candidate)
    return None


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def dig(data: object, *keys: str, default: Any = None) -> Any:
    """``data[k1][k2]…`` through nested JSON objects, or ``default`` where one is missing or is
    not an object (hand-edited files may hold anything)."""
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return data


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LrlabError(f"{path} is missing.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LrlabError(f"{path}: cannot read it: {error}.") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as error:
        raise LrlabError(f"{path}: not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise LrlabError(f"{path}: expected a JSON object, got {type(data).__name__}.")
    return data


def read_metrics(path: Path) -> tuple[dict[str, float], ...]:
    """The rows of a metrics.csv as numbers (empty cells left out); it must have an epoch column.

    ``nan`` and ``inf`` cells are kept (a diverged run records them; figures leave them out and
    the page counts them); a cell that is not a number, or an epoch that is not a finite whole
    number >= 0, is an :class:`~lrlab.errors.LrlabError` naming the line and the column.
    """
    rows = list(csv.DictReader(io.StringIO(_read(path))))
    parsed: list[dict[str, float]] = []
    for line, row in enumerate(rows, start=2):
        numbers: dict[str, float] = {}
        for key, value in row.items():
            if not key or value is None or not isinstance(value, str) or not value.strip():
                continue
            try:
                numbers[key] = float(value)
            except ValueError:
                raise LrlabError(
                    f"{path}, line {line}: column {key!r} holds {_shown(value)}, not a number; "
                    "correct or empty the cell."
                ) from None
        epoch = numbers.get("epoch")
        if epoch is None:
            raise LrlabError(f"{path}, line {line}: no epoch.")
        if not (math.isfinite(epoch) and epoch >= 0 and epoch.is_integer() and epoch <= MAX_EPOCHS):
            raise LrlabError(
                f"{path}, line {line}: epoch must be a whole number in [0, {MAX_EPOCHS}], "
                f"got {_shown(row.get('epoch'))}."
            )
        parsed.append(numbers)
    return tuple(parsed)


def _shown(value: object, width: int = 40) -> str:
    """``value`` for a one-line message: repr, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def nonfinite_cells(records: Iterable[RunRecord]) -> int:
    """How many metrics.csv cells of ``records`` are nan or ±inf (figures leave them out)."""
    return sum(
        1
        for record in records
        for row in record.metrics
        for value in row.values()
        if not math.isfinite(value)
    )


def _number(path: Path, where: str, value: object) -> float:
    """A number of summary.json (``where`` names it): an int or float (nan and inf kept, they
    show as such); anything else is an error naming the file and the key."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise LrlabError(
        f"{path}: {where} must be a number, got {_shown(value)}; correct the file or rerun the run."
    )


def _run_values(summary: Mapping[str, Any], path: Path = Path("summary.json")) -> dict[str, float]:
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


def group_by_variant(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    """The records by variant, in the order variants first appear."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.variant, []).append(record)
    return groups


def aggregate(records: Iterable[RunRecord]) -> list[VariantRow]:
    """One :class:`VariantRow` per variant, in the order variants first appear in ``records``."""
    rows = []
    for variant, runs in group_by_variant(records).items():
        per_run = [_run_values(record.summary, record.path / "summary.json") for record in runs]
        stats = {
            name: Stat.of(values)
            for name in STATS
            if (values := [numbers[name] for numbers in per_run if name in numbers])
        }
        statuses = tuple(str(record.summary.get("status", "unknown")) for record in runs)
        reasons = tuple(str(record.summary.get("stop_reason", "unknown")) for record in runs)
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
    return write_text_atomic(Path(path), summary_csv_text(rows))


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then move it into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        follow_umask(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
