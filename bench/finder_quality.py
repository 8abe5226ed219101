"""How good are range-test suggestions? Each one is trained and compared with a grid's best.

Cases (the short training budget is the same for the grid and for every suggestion):

* ``lenet-sgd``: LeNet on mnist-8k (the first 8,000 images of the real MNIST test set for
  training, the last 2,000 for evaluation, from ``../shared/datasets/mnist-test``),
  ``sgd(momentum=0.9)``, batch 128, 3 epochs.
* ``lenet-adam``: the same with ``adam()``.
* ``mlp-digits``: the quickstart of ``lrlab train``/``find-lr``: ``mlp`` on scikit-learn digits,
  ``sgd()``, batch 128, 10 epochs.
* ``regression``: ``mlp(widths=[64])`` on ``synthetic-regression(n=2000, features=20,
  noise=0.5)``, ``sgd(momentum=0.9)``, batch 64, 5 epochs.

For each case: the oracle is the best mean test score of a log grid (quarter decades, ≥ 9 LRs)
over the seeds. Each suggestion comes from a range test run with seed ``s`` (model initialized
with seed ``s``) and is trained with seed ``s``; its score is the mean over the seeds. The gap
is in accuracy points, or for regression in R² points (``100 × (MSE - best MSE) / Var(y_test)``).
Suggesters: lrlab's default and each of its single methods, lrlab's default with ``--confirm 3``
(trainings of the case's budget at ×1/3, ×1, ×3, none above the sweep's lowest loss, scored on
a validation split carved from the training set), torch-lr-finder (its README set-up:
``lr=1e-7`` to 100, 100 iterations, steepest gradient) and Lightning's ``Tuner.lr_find``
(defaults) when installed.

The overhead line times a sweep of N steps against N plain steps of ``fit``'s own epoch loop
(``train_epoch``), alternating, median of the rounds.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/finder_quality.py [--cases lenet-sgd,...] [--cache FILE]

``--cache`` keeps scores of (case, LR, seed) and anchor suggestions between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lrlab
from lrlab.data import Data, load_dataset
from lrlab.finder import Sweep, SweepConfig, confirm, find_lr
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.schedules import constant
from lrlab.train import FitConfig, Run, fit, seed_everything
from lrlab.train.feed import bind
from lrlab.train.loop import train_epoch

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-test"
MNIST_8K = (
    f'idx(images="{MNIST}/t10k-images-idx3-ubyte.gz", labels="{MNIST}/t10k-labels-idx1-ubyte.gz", '
    "test_size=2000)"
)


@dataclass(frozen=True)
class Case:
    name: str
    dataset: str
    model: str
    optimizer: str
    epochs: int
    batch_size: int
    grid: tuple[float, ...]
    seeds: int


def quarter_decades(low: int, high: int) -> tuple[float, ...]:
    """``10 ** (k / 4)`` for ``k`` in ``[low, high]``."""
    return tuple(float(f"{10 ** (k / 4):.4g}") for k in range(low, high + 1))


CASES = (
    Case("lenet-sgd", MNIST_8K, "lenet", "sgd(momentum=0.9)", 3, 128, quarter_decades(-12, -2), 3),
    Case("lenet-adam", MNIST_8K, "lenet", "adam()", 3, 128, quarter_decades(-16, -6), 3),
    Case("mlp-digits", "digits", "mlp", "sgd()", 10, 128, quarter_decades(-8, 1), 10),
    Case(
        "regression",
        "synthetic-regression(n=2000, features=20, noise=0.5)",
        "mlp(widths=[64])",
        "sgd(momentum=0.9)",
        5,
        64,
        quarter_decades(-16, -4),
        10,
    ),
)
LRLAB_METHODS = ("lrlab", "edge", "steepest", "valley", "minimum")


class Cache:
    """Scores and anchor suggestions, optionally kept in a JSON file between runs."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path and path.exists() else {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.data:
            self.data[key] = compute()
            if self.path is not None:
                self.path.write_text(json.dumps(self.data))
        return self.data[key]


def fresh(case: Case, data: Data, lr: float, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    seed_everything(seed)
    model = build_model(case.model, data.input_shape, data.output_size)
    return model, build_optimizer(model, case.optimizer, lr)


def score(case: Case, data: Data, lr: float, seed: int) -> float:
    """Test accuracy, or test MSE for regression, after the case's budget at ``lr``."""
    model, optimizer = fresh(case, data, lr, seed)
    config = FitConfig(epochs=case.epochs, batch_size=case.batch_size, seed=seed, device="cpu", quiet=True)
    final = fit(model, data, optimizer, config=config).final
    value = final.get("val_acc", final.get("val_mse", math.nan))
    return value if math.isfinite(value) else (0.0 if "val_acc" in final else math.inf)


def lrlab_suggestions(case: Case, data: Data, seed: int) -> dict[str, float | None]:
    model, optimizer = fresh(case, data, 0.1, seed)
    config = SweepConfig(batch_size=case.batch_size, seed=seed, device="cpu")
    result = find_lr(model, data, optimizer, config=config)
    answers: dict[str, float | None] = {"lrlab": result.suggested_lr}
    answers |= {a.method: a.value for a in result.suggestions}
    if result.suggested_lr is not None:
        answers["lrlab + confirm 3"] = confirmed(case, data, seed, result.suggested_lr, result.lowest)
    return answers


def confirmed(case: Case, data: Data, seed: int, lr: float, cap: float | None) -> float:
    """``--confirm 3``: the case's budget at ×1/3, ×1, ×3, scored on 10% of the training split."""
    from lrlab.data.dataset import split_validation

    held = split_validation(data, 0.1, seed) if data.x_val is None else data

    def build(rate: float) -> tuple[nn.Module, torch.optim.Optimizer]:
        return fresh(case, held, rate, seed)

    config = FitConfig(epochs=case.epochs, batch_size=case.batch_size, seed=seed, device="cpu", quiet=True)
    return confirm(build, held, lr, trainings=3, config=config, cap=cap).best_lr


def loader(case: Case, data: Data, seed: int) -> torch.utils.data.DataLoader[Any]:
    dataset = torch.utils.data.TensorDataset(data.x_train, data.y_train)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=case.batch_size, shuffle=True, generator=generator)


def torch_lr_finder(case: Case, data: Data, seed: int) -> float | None:
    """torch-lr-finder as its README runs it: lr=1e-7 to 100 in 100 steps, steepest gradient."""
    from matplotlib.figure import Figure
    from torch_lr_finder import LRFinder

    model, optimizer = fresh(case, data, 1e-7, seed)
    finder = LRFinder(model, optimizer, criterion(data), device="cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        finder.range_test(loader(case, data, seed), end_lr=100, num_iter=100)
        try:
            _, lr = finder.plot(ax=Figure().add_subplot(), suggest_lr=True)
        except (RuntimeError, ValueError):
            return None
    return float(lr) if lr is not None else None


def lightning_lr_find(case: Case, data: Data, seed: int) -> float | None:
    """Lightning's ``Tuner.lr_find`` with its defaults (1e-8 to 1, 100 steps)."""
    import tempfile

    import lightning

    loss_of = criterion(data)

    class Module(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lr = 1e-3
            self.net, _ = fresh(case, data, self.lr, seed)

        def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
            return loss_of(self.net(batch[0]), batch[1])  # type: ignore[no-any-return]

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return build_optimizer(self.net, case.optimizer, self.lr)

    with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as root:
        trainer = lightning.Trainer(
            accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, max_epochs=100,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
        )  # fmt: skip
        tuner = lightning.pytorch.tuner.Tuner(trainer)
        found = tuner.lr_find(Module(), train_dataloaders=loader(case, data, seed))
    suggestion = found.suggestion() if found is not None else None
    return float(suggestion) if suggestion is not None else None


def anchors() -> dict[str, Callable[[Case, Data, int], float | None]]:
    """The installed anchors by name (each missing one says so on stderr)."""
    found: dict[str, Callable[[Case, Data, int], float | None]] = {}
    for name, module, function in (
        ("torch-lr-finder", "torch_lr_finder", torch_lr_finder),
        ("lightning", "lightning", lightning_lr_find),
    ):
        if importlib.util.find_spec(module) is None:
            print(f"{name} is not installed: its row is left out", file=sys.stderr)
        else:
            found[name] = function
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="torch_lr_finder")
    return found


def quietly(
    function: Callable[[Case, Data, int], float | None], case: Case, data: Data, seed: int
) -> float | None:
    """Run an anchor without its progress bars and prints."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return function(case, data, seed)


@dataclass(frozen=True)
class Row:
    method: str
    lrs: tuple[float | None, ...]
    score: float | None


def evaluate_case(case: Case, cache: Cache) -> tuple[dict[float, float], list[Row], float]:
    data = load_dataset(case.dataset)
    seeds = range(case.seeds)

    def mean_score(lr: float) -> float:
        return statistics.fmean(
            cache.get(f"{case.name}|{lr:.6g}|{s}", lambda s=s: score(case, data, lr, s)) for s in seeds
        )  # type: ignore[misc]

    grid = {lr: mean_score(lr) for lr in case.grid}
    per_seed = [lrlab_suggestions(case, data, s) for s in seeds]
    names = list(per_seed[0])
    for name, function in anchors().items():
        for s, answers in zip(seeds, per_seed, strict=True):
            answers[name] = cache.get(
                f"{case.name}|{name}|{s}", lambda f=function, s=s: quietly(f, case, data, s)
            )  # type: ignore[misc]
        names.append(name)
    rows = []
    for name in names:
        lrs = tuple(answers.get(name) for answers in per_seed)
        scores = [
            cache.get(f"{case.name}|{lr:.6g}|{s}", lambda lr=lr, s=s: score(case, data, lr, s))  # type: ignore[misc]
            for s, lr in zip(seeds, lrs, strict=True)
            if lr is not None
        ]
        rows.append(Row(name, lrs, statistics.fmean(scores) if len(scores) == len(lrs) else None))
    variance = float(data.y_test.var()) if data.task == "regression" else math.nan
    return grid, rows, variance


def gap(case: Case, best: float, value: float | None, variance: float) -> float | None:
    if value is None:
        return None
    if case.name == "regression":
        return 100 * (value - best) / variance if math.isfinite(value) else math.inf
    return 100 * (best - value)


def print_case(case: Case, grid: dict[float, float], rows: list[Row], variance: float) -> None:
    regression = case.name == "regression"
    best_lr = min(grid, key=grid.__getitem__) if regression else max(grid, key=grid.__getitem__)
    best = grid[best_lr]
    unit = "MSE" if regression else "acc %"
    points = "gap R² pts" if regression else "gap pts"
    shown = (lambda v: f"{v:.4f}") if regression else (lambda v: f"{100 * v:.2f}")
    print(f"\n{case.name}: {case.model} / {case.optimizer}, {case.epochs} epochs, {case.seeds} seeds")
    print("  grid: " + "  ".join(f"{lr:g}:{shown(v)}" for lr, v in grid.items()))
    print(f"  oracle: lr {best_lr:g}, {unit} {shown(best)}")
    print(f"  {'suggester':<20} {'suggested LRs (min–max)':<24} {unit:>8} {points:>11}")
    for row in rows:
        found = [lr for lr in row.lrs if lr is not None]
        span = f"{min(found):.3g}–{max(found):.3g}" if found else "none"
        span += f" ({len(row.lrs) - len(found)} none)" if found and len(found) < len(row.lrs) else ""
        value = "n/a" if row.score is None else shown(row.score)
        difference = gap(case, best, row.score, variance)
        shown_gap = "n/a" if difference is None else f"{difference:.2f}"
        print(f"  {row.method:<20} {span:<24} {value:>8} {shown_gap:>11}")


def criterion(data: Data) -> nn.Module:
    """The loss as a module, for the anchors that take one: cross-entropy or mean squared error."""
    return nn.CrossEntropyLoss() if data.task == "classification" else nn.MSELoss()


def overhead(rounds: int = 7) -> float:
    """Median over rounds of (sweep of N steps) / (N plain steps of ``train_epoch``)."""
    case = CASES[0]
    data = load_dataset(case.dataset)
    steps = -(-len(data.x_train) // case.batch_size)
    ratios = []
    for number in range(rounds):
        model, optimizer = fresh(case, data, 0.01, number)
        began = time.perf_counter()
        config = SweepConfig(batch_size=case.batch_size, seed=number, device="cpu")
        find_lr(model, data, optimizer, sweep=Sweep(1e-3, 1e-2, steps), config=config)
        sweep = time.perf_counter() - began
        model, optimizer = fresh(case, data, 0.01, number)
        fit_config = FitConfig(batch_size=case.batch_size, seed=number, device="cpu")
        run = Run(model, optimizer, constant(), fit_config, [0.01] * len(optimizer.param_groups), steps)
        workload = bind(data, fit_config, torch.device("cpu"), run.world)
        began = time.perf_counter()
        train_epoch(run, workload, torch.device("cpu"))
        plain = time.perf_counter() - began
        ratios.append(sweep / plain)
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(case.name for case in CASES))
    parser.add_argument("--cache", type=Path, help="keep scores in this JSON file between runs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Cache(args.cache)
    began = time.perf_counter()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    print(f"finder quality, {datetime.date.today()}, {machine}")
    print(f"torch {torch.__version__}, lrlab {lrlab.__version__}, Python {platform.python_version()}")
    for case in CASES:
        if case.name in args.cases.split(","):
            print_case(case, *evaluate_case(case, cache))
    print(f"\nsweep cost: {overhead():.3f}× the same number of plain training steps (LeNet, median of 7)")
    print(f"wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
