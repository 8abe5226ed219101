"""Tables say what their numbers are: the metrics at the best epoch are headed by the metric
that chose it ("val_acc at best val_loss"), and the test metrics are shown beside validation,
in the printed table of ``lrlab compare``, on the page and in summary.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lrlab.commands.compare import print_table
from lrlab.compare import ComparisonResult
from lrlab.report.html import build_report
from lrlab.report.records import aggregate, stat_heading
from lrlab.report.runs import load_runs
from tests.report.conftest import FAKE, FakeRun, write_comparison

WITH_TEST_LOSS = {
    "constant": {
        seed: FakeRun(
            val_loss=[1.0, 0.5, 0.7], val_acc=[0.5, 0.72, 0.8], test={"test_acc": 0.61, "test_loss": 1.3}
        )
        for seed in (0, 1)
    }
} | {k: v for k, v in FAKE.items() if k != "constant"}


def test_headings_name_the_metric_that_chose_the_epoch() -> None:
    assert stat_heading("best_val_acc", ["val_loss"]) == "val_acc at best val_loss"
    assert stat_heading("best_val_loss", ["val_loss"]) == "best val_loss"
    assert stat_heading("best_val_loss", ["val_acc"]) == "val_loss at best val_acc"
    assert stat_heading("best_epoch", ["val_loss"]) == "epoch of best val_loss"
    assert stat_heading("best_val_acc", ["val_acc", "val_loss"]) == "val_acc at the best epoch"
    assert stat_heading("test_acc", ["val_loss"]) == "test_acc"


def test_the_printed_table_heads_columns_honestly_and_shows_test_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_comparison(tmp_path / "cmp", WITH_TEST_LOSS)
    rows = tuple(aggregate(load_runs(root)))
    print_table(ComparisonResult(root, (), rows, None))
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "variant" in line)
    for heading in ("final val_acc", "val_acc at best val_loss", "best val_loss", "test_acc", "test_loss"):
        assert heading in header
    assert "best val_acc" not in out
    constant = next(line for line in out.splitlines() if "constant" in line)
    assert "0.610" in constant and "1.300" in constant  # test_acc and test_loss of both seeds
    cosine = next(line for line in out.splitlines() if "cosine" in line)
    assert "—" in cosine  # no run of cosine records a test metric


def test_the_page_heads_columns_honestly_and_shows_test_metrics(tmp_path: Path) -> None:
    root = write_comparison(tmp_path / "cmp", WITH_TEST_LOSS)
    page = build_report(root).read_text(encoding="utf-8")
    head = page[page.index("<thead>") : page.index("</thead>")]
    for heading in (
        "val_acc at best val_loss",
        "best val_loss",
        "test_acc",
        "test_loss",
        "epoch of best val_loss",
    ):
        assert f">{heading}</th>" in head
    assert ">best val acc<" not in page and ">best val_acc<" not in page
    assert "0.6100" in page and "1.300" in page
    assert "the epoch of the best val_loss" in page and "held-out test split" in page


def test_summary_csv_says_which_metric_chose_the_best_epoch(tmp_path: Path) -> None:
    root = write_comparison(tmp_path / "cmp", FAKE)
    build_report(root)
    rows = list(csv.DictReader(io.StringIO((root / "summary.csv").read_text(encoding="utf-8"))))
    assert {row["best_by"] for row in rows} == {"val_loss"}
    # the old columns keep their names: readers of earlier files keep working
    assert rows[0]["best_val_acc_mean"] and rows[0]["test_acc_mean"]
