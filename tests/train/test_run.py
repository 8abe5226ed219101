"""``train``: the run directory's files, refusal to overwrite, stop reasons, fine-tuning."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from lrlab import __version__
from lrlab.config import Experiment, validate
from lrlab.errors import LrlabError
from lrlab.train.run import run_directory, run_name, train

FAST: dict[str, Any] = {"train": {"epochs": 2, "batch_size": 64, "device": "cpu"}}


def experiment(**sections: Any) -> Experiment:
    """A quick digits experiment; ``sections`` replace or extend the tables of :data:`FAST`."""
    data: dict[str, Any] = {key: dict(value) for key, value in FAST.items()}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(data)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def model_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]  # type: ignore[no-any-return]


def test_a_run_writes_every_file_of_the_run_directory(tmp_path: Path) -> None:
    exp = experiment(name="quick", early_stopping={"enabled": True, "patience": 5})
    result = train(exp, out=tmp_path, quiet=True)
    folder = tmp_path / "quick" / run_name(exp)
    assert result.run_dir == folder == run_directory(exp, tmp_path)
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "metrics.csv", "checkpoint.pt", "best.pt", "summary.json",
    }  # fmt: skip

    config = read_json(folder / "config.json")
    assert Experiment.model_validate(config["experiment"]) == exp
    assert config["versions"]["lrlab"] == __version__
    assert config["versions"]["torch"] == torch.__version__
    assert set(config["versions"]) >= {"python", "numpy"}
    assert (config["device"], config["seed"], config["amp"]) == ("cpu", 0, None)
    assert config["data"] | {"train": 0} == {
        "name": "digits", "task": "classification", "num_classes": 10, "input_shape": [1, 8, 8],
        "train": 0, "val": 144, "test": 360,
    }  # fmt: skip
    assert config["model"]["trainable"] == config["model"]["parameters"] > 0

    with (folder / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert {"step", "lr", "train_loss", "val_loss", "val_acc", "time_s"} <= set(rows[0])

    summary = read_json(folder / "summary.json")
    assert summary == result.summary
    assert summary["stop"] == {"kind": "finished", "detail": "finished 2 epochs"}
    assert summary["epochs"] == 2 and summary["steps"] == int(rows[-1]["step"])
    assert summary["final"]["val_loss"] == float(rows[-1]["val_loss"])
    assert summary["best"]["val_loss"] == min(float(row["val_loss"]) for row in rows)
    assert 0 <= summary["test"]["test_acc"] <= 1 and summary["test"]["test_loss"] > 0
    assert summary["weights"] == f"best (epoch {int(summary['best']['epoch'])})"
    assert summary["wall_time_s"] > 0

    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["epoch"] == 2 and set(checkpoint) >= {"model", "optimizer", "rng"}
    best = torch.load(folder / "best.pt", weights_only=True)
    assert best["epoch"] == summary["best"]["epoch"]
    assert set(best["model"]) == set(checkpoint["model"])


def test_the_same_settings_find_the_same_directory_and_others_a_new_one() -> None:
    base = experiment()
    assert run_name(base) == run_name(experiment())
    assert run_name(base).startswith("mlp-sgd-lr0.1-seed0-")
    assert run_name(experiment(task={"data_dir": "/elsewhere"})) == run_name(base)
    assert run_name(experiment(name="other")) == run_name(base)  # the name is the parent folder
    assert run_name(experiment(optimizer={"lr": 0.2})) != run_name(base)
    assert run_name(experiment(schedule="cosine(steps=40)")) != run_name(base)
    plugin = experiment(task={"model": "tests.train.plugins:slow_mlp"})
    assert run_name(plugin).startswith("slow_mlp-sgd-")


def test_a_started_or_finished_run_is_never_overwritten(tmp_path: Path) -> None:
    exp = experiment(train={"epochs": 1})
    folder = train(exp, out=tmp_path, quiet=True).run_dir
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(LrlabError, match="already holds a finished run"):
        train(exp, out=tmp_path, quiet=True)
    with pytest.raises(LrlabError, match="nothing is left to resume"):
        train(exp, out=tmp_path, resume=True, quiet=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    (folder / "summary.json").unlink()  # as if the run had been killed before the end
    with pytest.raises(LrlabError, match=r"already holds a started run .*Pass --resume .* or --out DIR"):
        train(exp, out=tmp_path, quiet=True)
    assert train(exp, out=tmp_path, resume=True, quiet=True).summary["epochs"] == 1


def test_resume_without_a_started_run_starts_one(tmp_path: Path) -> None:
    result = train(experiment(train={"epochs": 1}), out=tmp_path, resume=True, quiet=True)
    assert result.status == "finished"


def test_early_stopping_is_recorded_with_its_epoch_and_best_value(tmp_path: Path) -> None:
    # a baseline no epoch can beat: no epoch ever improves, so patience 1 stops after epoch 1
    stopping = {"enabled": True, "monitor": "val_acc", "baseline": 1.0, "patience": 1}
    result = train(experiment(early_stopping=stopping, train={"epochs": 4}), out=tmp_path, quiet=True)
    assert result.status == "early-stopped"
    assert result.stop_reason.startswith("early-stopped at epoch 1: val_acc did not improve for 1 epochs")
    assert result.summary["epochs"] == 1
    assert result.summary["weights"] == "final"  # nothing beat the baseline: nothing to restore


def test_divergence_is_recorded(tmp_path: Path) -> None:
    exp = experiment(optimizer={"lr": 1e6}, divergence={"retries": 1})
    result = train(exp, out=tmp_path, quiet=True)
    assert result.status == "diverged"
    assert "gave up after 1 retries" in result.summary["stop"]["detail"]


def test_init_from_and_freeze_keep_frozen_weights_and_train_the_rest(tmp_path: Path) -> None:
    source = train(experiment(name="source", train={"epochs": 1}), out=tmp_path, quiet=True).run_dir
    start = model_weights(source / "checkpoint.pt")
    # mlp: 0 Flatten, 1 Linear, 2 ReLU, 3 Linear, 4 ReLU, 5 Linear; "1" freezes 1.weight and 1.bias
    tuned = experiment(
        name="tuned",
        finetune={"init_from": str(source / "checkpoint.pt"), "freeze": ["1", "3.b*"]},
        optimizer={"name": "sgd(momentum=0.9, weight_decay=0.01)"},
    )
    folder = train(tuned, out=tmp_path, quiet=True).run_dir
    end = model_weights(folder / "checkpoint.pt")
    for key in ("1.weight", "1.bias", "3.bias"):
        assert torch.equal(end[key], start[key]), key
    for key in ("3.weight", "5.weight", "5.bias"):
        assert not torch.equal(end[key], start[key]), key
    config = read_json(folder / "config.json")
    assert config["model"]["frozen"] == ["1.weight", "1.bias", "3.bias"]
    assert config["model"]["trainable"] < config["model"]["parameters"]
    optimizer = torch.load(folder / "checkpoint.pt", weights_only=True)["optimizer"]
    assert sum(len(group["params"]) for group in optimizer["param_groups"]) == 3  # frozen ones left out


def test_lr_multipliers_hold_through_warmup_schedule_and_plateau_cuts(tmp_path: Path) -> None:
    exp = experiment(
        schedule="warmup(steps=10, start=0.1) >> cosine(steps=60, end=0.1)",
        optimizer={"lr": 0.05, "lr_multipliers": {"5": 10.0}},
        plateau={"enabled": True, "patience": 0, "factor": 0.5, "min_delta": 10.0},
        train={"epochs": 3},
    )
    result = train(exp, out=tmp_path, quiet=True)
    checkpoint = torch.load(result.run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["lr_scale"] == 0.25  # min_delta=10: every epoch after the first cuts
    groups = checkpoint["optimizer"]["param_groups"]
    head = [group for group in groups if group["initial_lr"] == pytest.approx(0.5)]
    body = [group for group in groups if group["initial_lr"] == pytest.approx(0.05)]
    assert head and body and len(head) + len(body) == len(groups)
    for group in head:
        assert group["lr"] / body[0]["lr"] == pytest.approx(10.0, rel=1e-12)
    assert body[0]["lr"] < 0.05 * 0.25  # the schedule and the cuts both apply
    with pytest.raises(LrlabError, match="unknown lr_multipliers prefix 'head'"):
        train(experiment(optimizer={"lr_multipliers": {"head": 2.0}}), out=tmp_path, quiet=True)


def test_fine_tuning_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match=r"finetune\.init_from: no file"):
        train(experiment(finetune={"init_from": str(tmp_path / "none.pt")}), out=tmp_path, quiet=True)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2, 2)}, other)
    with pytest.raises(LrlabError, match=r"do not fit the model: missing 1\.weight"):
        train(experiment(finetune={"init_from": str(other)}), out=tmp_path, quiet=True)
    with pytest.raises(
        LrlabError, match=r"pattern 'conv\*' matches no parameter; the parameters are 1\.weight"
    ):
        train(experiment(finetune={"freeze": ["conv*"]}), out=tmp_path, quiet=True)
    with pytest.raises(LrlabError, match="froze every parameter"):
        train(experiment(finetune={"freeze": ["*"]}), out=tmp_path, quiet=True)
    assert not (tmp_path / "default").exists()  # a run that cannot start leaves no folder behind
