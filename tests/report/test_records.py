"""Run directories → records → one row per variant: order, hand-checked statistics, curves, LR
previews, summary.csv, and one LrlabError naming the file for each kind of damage."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import pytest

from lrlab.errors import LrlabError
from lrlab.report.curves import bands, lr_preview
from lrlab.report.records import STATS, SUMMARY_COLUMNS, Stat, aggregate, write_summary_csv
from lrlab.report.runs import load_runs, read_experiment
from lrlab.schedules import parse
from tests.report.conftest import COSINE_SPEC, FAKE, FakeRun, write_comparison

SQRT2 = math.sqrt(2)


def by_variant(root: Path) -> dict[str, dict[str, Stat]]:
    return {row.variant: dict(row.stats) for row in aggregate(load_runs(root))}


# --- load_runs -------------------------------------------------------------------------------------


def test_runs_come_in_the_experiments_variant_order_and_seed_order(tmp_path: Path) -> None:
    runs = {"zeta": {10: FAKE["constant"][0], 2: FAKE["constant"][1]}, "alpha": FAKE["cosine"]}
    root = write_comparison(tmp_path / "cmp", runs)
    (root / "runs" / "zeta" / "seed_notes").mkdir()  # not a seed<k> folder: not a run
    records = load_runs(root)
    assert [(r.variant, r.seed) for r in records] == [("zeta", 2), ("zeta", 10), ("alpha", 0), ("alpha", 1)]


def test_a_record_holds_the_runs_spec_interval_epochs_and_steps(fake_dir: Path) -> None:
    records = {(r.variant, r.seed): r for r in load_runs(fake_dir)}
    cosine = records["cosine", 1]
    assert (cosine.schedule, cosine.interval, cosine.lr) == (COSINE_SPEC, "step", 0.2)
    assert (cosine.epochs, len(cosine.metrics), cosine.steps_per_epoch) == (3, 2, 10)
    assert cosine.column("val_acc") == [(1, 0.75), (2, 0.8)]
    assert cosine.summary["stop"]["detail"].startswith("early-stopped")
    assert cosine.versions["torch"] == "2.13.0+cpu"
    assert records["multistep", 0].interval == "epoch"


def test_read_experiment_returns_the_text_and_the_tables(fake_dir: Path) -> None:
    text, experiment = read_experiment(fake_dir)
    assert text == (fake_dir / "experiment.toml").read_text(encoding="utf-8")
    assert [v["name"] for v in experiment["variant"]] == ["constant", "cosine", "multistep"]


# --- aggregate: every number checked by hand ------------------------------------------------------


def test_constant_mean_and_sample_std_over_two_seeds(fake_dir: Path) -> None:
    stats = by_variant(fake_dir)["constant"]
    # final acc 0.6, 0.8 and loss 0.8, 0.4; the best epoch by val_loss is 2 for seed 0 (loss 0.6,
    # acc 0.7) and 3 for seed 1 (loss 0.4, acc 0.8); training time 5 s and 7 s
    expected = {
        "final_val_acc": (0.7, 0.2 / SQRT2),
        "final_val_loss": (0.6, 0.4 / SQRT2),
        "best_val_acc": (0.75, 0.1 / SQRT2),
        "best_val_loss": (0.5, 0.2 / SQRT2),
        "best_epoch": (2.5, 1 / SQRT2),
        "test_acc": (0.65, 0.1 / SQRT2),
        "epochs": (3.0, 0.0),
        "seconds": (6.0, 2 / SQRT2),
    }
    assert set(stats) == set(expected)  # no test_loss recorded: left out, not zero
    for name, (mean, std) in expected.items():
        assert stats[name].mean == pytest.approx(mean), name
        assert stats[name].std == pytest.approx(std), name
        assert stats[name].count == 2


def test_an_early_stopped_seed_counts_with_its_last_epoch(fake_dir: Path) -> None:
    (row,) = [row for row in aggregate(load_runs(fake_dir)) if row.variant == "cosine"]
    # seed 0: 3 epochs, final acc 0.9; seed 1: stopped after 2 epochs, final acc 0.8, best at 2
    assert row.stats["final_val_acc"].mean == pytest.approx(0.85)
    assert row.stats["best_val_acc"].mean == pytest.approx(0.85)
    assert row.stats["best_epoch"].mean == 2.5
    assert row.stats["epochs"].mean == 2.5
    assert row.status() == "early-stopped ×1, finished ×1"
    assert row.stop_reasons == ("finished 3 epochs", "early-stopped: val_loss did not improve for 1 epoch")
    assert row.reasons() == "finished 3 epochs ×1; early-stopped: val_loss did not improve for 1 epoch ×1"
    assert row.seeds == (0, 1)
    assert row.monitor == "val_loss"


def test_a_single_seed_has_no_spread_and_regression_has_no_accuracy(tmp_path: Path) -> None:
    root = write_comparison(tmp_path / "cmp", {"mse": {3: FakeRun(val_loss=[2.0, 1.5])}})
    (row,) = aggregate(load_runs(root))
    assert row.stats["final_val_loss"] == Stat(1.5, None, 1)
    assert row.stats["final_val_loss"].format() == "1.5"
    assert row.status() == "finished"
    assert not {"final_val_acc", "best_val_acc"} & set(row.stats)


def test_stat_formats_mean_plus_minus_std_with_the_means_decimals() -> None:
    assert Stat.of([0.6, 0.8]).format(".3f") == "0.700 ± 0.141"
    assert Stat(0.9, 0.0, 2).format("#.4g") == "0.9000 ± 0.0000"
    assert Stat(12.0, 2.8284, 2).format("#.3g") == "12.0 ± 2.8"
    assert Stat(12345.0, 10.0, 2).format(".3g") == "1.23e+04 ± 10"
    assert Stat(math.nan, math.nan, 2).format("#.4g") == "nan ± nan"


# --- summary.csv -------------------------------------------------------------------------------


def test_summary_csv_has_one_row_per_variant_and_mean_std_columns(fake_dir: Path) -> None:
    path = write_summary_csv(aggregate(load_runs(fake_dir)), fake_dir / "summary.csv")
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["variant"] for row in rows] == ["constant", "cosine", "multistep"]
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert {f"{name}_{part}" for name in STATS[:-2] for part in ("mean", "std")} <= set(rows[0])
    constant = rows[0]
    assert constant["runs"] == "2" and constant["status"] == "finished"
    assert float(constant["final_val_acc_mean"]) == pytest.approx(0.7)
    assert float(constant["seconds_std"]) == pytest.approx(SQRT2)
    assert constant["test_loss_mean"] == constant["test_loss_std"] == ""  # not recorded
    assert rows[1]["status"] == "early-stopped ×1, finished ×1"
    assert sorted(p.name for p in fake_dir.iterdir()) == ["experiment.toml", "runs", "summary.csv"]


def test_summaries_written_before_the_stop_was_structured_still_report(tmp_path: Path) -> None:
    legacy = {
        variant: {seed: dataclasses.replace(run, legacy=True) for seed, run in seeds.items()}
        for variant, seeds in FAKE.items()
    }
    old, new = (aggregate(load_runs(write_comparison(tmp_path / name, runs))) for name, runs in (
        ("old", legacy), ("new", FAKE)))  # fmt: skip
    assert "stop" not in load_runs(tmp_path / "old")[0].summary
    assert [(row.statuses, row.stop_reasons) for row in old] == [
        (row.statuses, row.stop_reasons) for row in new
    ]
    assert old[1].status() == "early-stopped ×1, finished ×1"
    assert old[1].reasons() == "finished 3 epochs ×1; early-stopped: val_loss did not improve for 1 epoch ×1"


# --- curves --------------------------------------------------------------------------------------


def test_bands_give_the_mean_and_the_range_per_epoch(fake_dir: Path) -> None:
    curves = bands(load_runs(fake_dir), "val_acc")
    assert list(curves) == ["constant", "cosine", "multistep"]
    constant = curves["constant"]
    assert constant.epochs == [1, 2, 3]
    assert constant.mean == pytest.approx([0.55, 0.75, 0.7])
    assert (constant.low, constant.high) == ([0.5, 0.7, 0.6], [0.6, 0.8, 0.8])
    cosine = curves["cosine"]  # epoch 3: only seed 0 got there
    assert cosine.mean == pytest.approx([0.725, 0.825, 0.9])
    assert cosine.low[2] == cosine.high[2] == 0.9


def test_std_bands_are_mean_plus_minus_sample_std(fake_dir: Path) -> None:
    constant = bands(load_runs(fake_dir), "val_acc", spread="std")["constant"]
    assert constant.high[0] - constant.mean[0] == pytest.approx(0.1 / SQRT2)
    assert constant.mean[0] - constant.low[0] == pytest.approx(0.1 / SQRT2)


def test_lr_preview_per_step_is_base_lr_times_the_schedule_in_epochs(fake_dir: Path) -> None:
    record = next(r for r in load_runs(fake_dir) if r.variant == "cosine")
    xs, lrs = lr_preview(record)  # 3 planned epochs × 10 steps, then the last value held
    values = parse(COSINE_SPEC).values(30)
    assert xs == [step / 10 for step in range(30)] + [3.0]
    assert lrs == pytest.approx([0.2 * v for v in [*values, values[-1]]])


def test_lr_preview_per_epoch_holds_each_epochs_value(fake_dir: Path) -> None:
    record = next(r for r in load_runs(fake_dir) if r.variant == "multistep")
    assert lr_preview(record) == ([0.0, 1.0, 2.0, 3.0], pytest.approx([0.1, 0.05, 0.025, 0.025]))


# --- damaged or missing files ----------------------------------------------------------------------


def test_a_folder_without_runs_is_not_a_comparison(tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match="not a comparison directory"):
        load_runs(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("summary.json", None, "summary.json is missing: the run has not finished"),
        ("metrics.csv", None, "metrics.csv is missing"),
        ("config.json", "{not json", "config.json: not valid JSON"),
        ("summary.json", "[1, 2]", "summary.json: expected a JSON object"),
        (
            "metrics.csv",
            "epoch,val_loss\n1,oops\n",
            "metrics.csv, line 2: column 'val_loss' holds 'oops', not a number",
        ),
        ("metrics.csv", "val_loss\n1.0\n", "metrics.csv, line 2: no epoch"),
        ("config.json", '{"experiment": {}}', "config.json: no resolved experiment"),
    ],
)
def test_a_damaged_run_file_is_named(fake_dir: Path, name: str, content: str | None, message: str) -> None:
    path = fake_dir / "runs" / "cosine" / "seed1" / name
    if content is None:
        path.unlink()
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LrlabError, match=message) as caught:
        load_runs(fake_dir)
    assert str(path) in str(caught.value)


def test_a_damaged_experiment_file_is_named(fake_dir: Path) -> None:
    (fake_dir / "experiment.toml").write_text("name = [unclosed", encoding="utf-8")
    with pytest.raises(LrlabError, match=r"experiment\.toml: not valid TOML"):
        load_runs(fake_dir)


# --- a real run ------------------------------------------------------------------------------------


def test_a_real_run_reads_back_as_its_summary_says(real_run_dir: Path) -> None:
    (record,) = load_runs(real_run_dir)
    summary = json.loads((record.path / "summary.json").read_text(encoding="utf-8"))
    assert (record.variant, record.seed, record.epochs, len(record.metrics)) == ("constant", 0, 2, 2)
    assert record.steps_per_epoch == summary["steps"] // summary["epochs"]
    (row,) = aggregate([record])
    assert row.stats["final_val_acc"].mean == summary["final"]["val_acc"]
    assert row.stats["best_epoch"].mean == summary["best"]["epoch"]
    assert row.stats["test_acc"].mean == summary["test"]["test_acc"]
    assert row.stats["seconds"].mean == summary["train_time_s"]
    assert row.stats["final_val_acc"].std is None
    xs, lrs = lr_preview(record)
    assert xs[-1] == 2.0
    assert set(lrs) == {record.lr}  # constant()


def test_a_row_shows_the_seeds_the_runs_trained_with(fake_dir: Path) -> None:
    path = fake_dir / "runs" / "multistep" / "seed1" / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(config | {"seed": 7}), encoding="utf-8")
    records = load_runs(fake_dir)
    assert [(r.seed, r.train_seed) for r in records if r.variant == "multistep"] == [(0, 0), (1, 7)]
    assert aggregate(records)[2].seeds == (0, 7)


@pytest.mark.parametrize(("world_size", "steps"), [(None, 10), (1, 10), (2, 5), (3, 4)])
def test_steps_per_epoch_from_config_count_the_recorded_processes(
    fake_dir: Path, world_size: int | None, steps: int
) -> None:
    """A run whose metrics and summary record no steps: the batches of its training examples,
    ``batch_size`` per process of the world size config.json records (1000 examples, 100 each)."""
    run = fake_dir / "runs" / "cosine" / "seed1"
    metrics = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()
    (run / "metrics.csv").write_text(metrics[0] + "\n", encoding="utf-8")  # no finished epoch
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    (run / "summary.json").write_text(json.dumps(summary | {"steps": 0, "epochs": 0}), encoding="utf-8")
    if world_size is not None:
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        config["distributed"] = {"world_size": world_size}
        (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    records = {(r.variant, r.seed): r for r in load_runs(fake_dir)}
    assert records["cosine", 1].steps_per_epoch == steps
