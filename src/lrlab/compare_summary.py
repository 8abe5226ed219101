"""``summary.csv`` of a comparison: one row per variant, aggregated over its seeds.

Columns (numbers are the mean and the sample standard deviation over the variant's runs; a
std is empty with one run, a cell is empty when no run has the metric, e.g. ``val_acc`` for
regression):

- ``variant``, ``runs``;
- ``final_<m>_mean``/``_std``: the last epoch's ``<m>``, for ``m`` in ``val_acc``, ``val_loss``;
- ``best_<m>_mean``/``_std`` and ``best_epoch_mean``/``_std``: at the best epoch by
  ``early_stopping.monitor`` (the epoch ``best.pt`` holds; ``summary.json``'s ``best``);
- ``test_acc_mean``/``_std``, ``test_loss_mean``/``_std``: the test split after the fit;
- ``epochs_mean``: epochs trained; ``status``: ``finished``, ``early-stopped`` or ``diverged``
  (``early-stopped ×2, finished ×1`` when the seeds differ);
- ``seconds_mean``/``_std``: training time per run (``train_time_s``, resumed runs included).

Every number comes from the runs' ``summary.json`` files.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

METRICS = ("val_acc", "val_loss")


def _values(summaries: Sequence[Mapping[str, Any]], part: str, key: str) -> list[float]:
    return [float(s[part][key]) for s in summaries if isinstance(s.get(part), Mapping) and key in s[part]]


def _mean_std(name: str, values: Sequence[float]) -> dict[str, float | None]:
    return {
        f"{name}_mean": statistics.fmean(values) if values else None,
        f"{name}_std": statistics.stdev(values) if len(values) > 1 else None,
    }


def _status(summaries: Sequence[Mapping[str, Any]]) -> str:
    counts = Counter(str(s.get("status", "unknown")) for s in summaries)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{status} ×{count}" for status, count in sorted(counts.items()))


def aggregate_variant(name: str, summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One row of ``summary.csv`` from the ``summary.json`` contents of a variant's runs."""
    row: dict[str, Any] = {"variant": name, "runs": len(summaries)}
    for part in ("final", "best"):
        for metric in METRICS:
            row.update(_mean_std(f"{part}_{metric}", _values(summaries, part, metric)))
    row.update(_mean_std("best_epoch", _values(summaries, "best", "epoch")))
    for metric in ("test_acc", "test_loss"):
        row.update(_mean_std(metric, _values(summaries, "test", metric)))
    epochs = [float(s["epochs"]) for s in summaries if "epochs" in s]
    row["epochs_mean"] = statistics.fmean(epochs) if epochs else None
    row["status"] = _status(summaries)
    row.update(_mean_std("seconds", [float(s["train_time_s"]) for s in summaries if "train_time_s" in s]))
    return row


def aggregate(variants: Sequence[str], runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of ``summary.csv``, in the order of ``variants``, from ``(variant, summary)`` pairs."""
    return [
        aggregate_variant(name, [summary for owner, summary in runs if owner == name]) for name in variants
    ]


COLUMNS = tuple(aggregate_variant("", []))


def summary_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The text of ``summary.csv``: a header, then one line per row (``None`` → empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in COLUMNS})
    return buffer.getvalue()
