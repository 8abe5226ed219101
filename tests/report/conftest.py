"""Comparison directories for the report tests: fake ones with hand-picked metrics, and one
built around a real two-epoch run of ``lrlab.train.run.train`` on the embedded digits."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

VERSIONS = {"lrlab": "0.1.0", "torch": "2.13.0+cpu", "numpy": "2.4.6", "python": "3.11.7"}
TRAIN_EXAMPLES = 1000
BATCH = 100  # 10 steps per epoch


@dataclass
class FakeRun:
    """One run's metrics by column; the other files are made up around them."""

    val_loss: Sequence[float]
    val_acc: Sequence[float] | None = None  # None: a regression run (val_mse = val_loss)
    seconds: float = 10.0
    stop_reason: str | None = None
    schedule: str = "constant()"
    lr: float = 0.1
    interval: str = "step"
    epochs: int | None = None  # planned epochs (default: as many as metrics rows)
    test: Mapping[str, float] = field(default_factory=dict)
    legacy: bool = False  # summary.json as lrlab wrote it before the stop was structured


def metrics_rows(run: FakeRun) -> list[dict[str, float]]:
    rows = []
    for index, loss in enumerate(run.val_loss):
        epoch = index + 1
        row = {"epoch": float(epoch), "step": float(epoch * TRAIN_EXAMPLES // BATCH), "lr": run.lr}
        row |= {"train_loss": loss + 0.1, "val_loss": loss}
        row |= {"val_acc": run.val_acc[index]} if run.val_acc is not None else {"val_mse": loss}
        rows.append(row | {"time_s": 1.0, "samples_per_s": 1000.0})
    return rows


def write_run(folder: Path, run: FakeRun, *, name: str, seed: int) -> None:
    """config.json, metrics.csv and summary.json as ``lrlab train`` writes them."""
    folder.mkdir(parents=True)
    rows = metrics_rows(run)
    epochs = run.epochs or len(rows)
    experiment = {
        "name": name,
        "schedule": run.schedule,
        "task": {"dataset": "digits", "model": "mlp"},
        "train": {"epochs": epochs, "batch_size": BATCH, "seed": seed, "interval": run.interval},
        "optimizer": {"name": "sgd()", "lr": run.lr},
    }
    task = "classification" if run.val_acc is not None else "regression"
    config = {
        "experiment": experiment,
        "versions": VERSIONS,
        "seed": seed,
        "data": {"task": task, "train": 1000},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(repr(row[c]) for c in columns) for row in rows]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    best = min(rows, key=lambda row: row["val_loss"])
    reason = run.stop_reason or f"finished {len(rows)} epochs"
    kind = next((word for word in ("early-stopped", "diverged") if reason.startswith(word)), "finished")
    stop = (
        {"status": kind, "stop_reason": reason} if run.legacy else {"stop": {"kind": kind, "detail": reason}}
    )
    summary: dict[str, Any] = {
        **stop,
        "epochs": len(rows),
        "steps": int(rows[-1]["step"]),
        "monitor": {"metric": "val_loss", "mode": "min"},
        "best": best,
        "final": rows[-1],
        "test": dict(run.test),
        "weights": "final",
        "wall_time_s": run.seconds,
        "train_time_s": run.seconds / 2,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def write_comparison(
    root: Path,
    runs: Mapping[str, Mapping[int, FakeRun]],
    *,
    name: str = "fake-schedules",
    toml_extra: str = "",
) -> Path:
    """``root/experiment.toml`` (variants in the order of ``runs``) and ``root/runs/<v>/seed<k>/``."""
    root.mkdir(parents=True, exist_ok=True)
    variants = "".join(
        f"\n[[variant]]\nname = {json.dumps(v)}\nschedule = {json.dumps(next(iter(s.values())).schedule)}\n"
        for v, s in runs.items()
    )
    header = f'name = {json.dumps(name)}\nseeds = [0, 1]\nschedule = "constant()"\n{toml_extra}'
    (root / "experiment.toml").write_text(f"{header}\n[train]\nepochs = 3\n{variants}", encoding="utf-8")
    for variant, seeds in runs.items():
        for seed, run in seeds.items():
            write_run(root / "runs" / variant / f"seed{seed}", run, name=name, seed=seed)
    return root


# Hand-checked numbers (see test_records.py): constant's seeds end at acc 0.6 and 0.8, ...
CONSTANT = {
    0: FakeRun(val_loss=[1.0, 0.6, 0.8], val_acc=[0.5, 0.7, 0.6], seconds=10.0, test={"test_acc": 0.6}),
    1: FakeRun(val_loss=[0.9, 0.5, 0.4], val_acc=[0.6, 0.8, 0.8], seconds=14.0, test={"test_acc": 0.7}),
}
COSINE_SPEC = "warmup(steps=10, start=0.1) >> cosine(steps=20)"
COSINE = {
    0: FakeRun(val_loss=[0.8, 0.4, 0.3], val_acc=[0.7, 0.85, 0.9], schedule=COSINE_SPEC, lr=0.2),
    1: FakeRun(
        val_loss=[0.7, 0.5],
        val_acc=[0.75, 0.8],
        schedule=COSINE_SPEC,
        lr=0.2,
        epochs=3,
        stop_reason="early-stopped: val_loss did not improve for 1 epoch",
    ),
}
STEPWISE = {
    seed: FakeRun(
        val_loss=[1.2 - 0.1 * seed, 1.0, 0.9],
        val_acc=[0.4, 0.5 + 0.1 * seed, 0.6],
        schedule="multistep(milestones=[1, 2], gamma=0.5)",
        interval="epoch",
    )
    for seed in (0, 1)
}
FAKE = {"constant": CONSTANT, "cosine": COSINE, "multistep": STEPWISE}


@pytest.fixture
def fake_dir(tmp_path: Path) -> Path:
    """3 variants × 2 seeds; one cosine seed stopped early after 2 of 3 epochs."""
    return write_comparison(tmp_path / "cmp", FAKE)


@pytest.fixture(scope="session")
def real_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run (MLP on digits, 2 epochs, CPU, one thread) in a comparison layout."""
    from lrlab.config import Experiment, to_toml
    from lrlab.train.run import train

    base = tmp_path_factory.mktemp("real")
    experiment = Experiment.model_validate(
        {"name": "real-digits", "train": {"epochs": 2, "batch_size": 64, "device": "cpu"}}
    )
    result = train(experiment, out=base / "out", quiet=True)
    root = base / "cmp"
    shutil.copytree(result.run_dir, root / "runs" / "constant" / "seed0")
    text = to_toml(experiment) + '\n[[variant]]\nname = "constant"\nschedule = "constant()"\n'
    (root / "experiment.toml").write_text(text, encoding="utf-8")
    return root
