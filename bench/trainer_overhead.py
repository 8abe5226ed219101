"""Seconds per epoch of ``lrlab.train.fit`` next to hand-written loops and Lightning's ``Trainer``.

The task is LeNet on mnist-8k (the first 8,000 images of the MNIST test set for training, the
last 2,000 for evaluation, from ``../shared/datasets/mnist-test``): batch 128, SGD with momentum
0.9, one epoch of linear warmup then cosine, per step, and evaluation (loss and accuracy) after
every epoch. Contenders:

* ``tight loop``: ``randperm`` and index slicing over the same in-memory tensors, the LR written
  per step from the same schedule, the same evaluation: the floor a trainer can reach.
* ``lrlab fit``: ``lrlab.train.fit`` (quiet, no callbacks).
* ``lrlab fit + callbacks``: as ``lrlab train`` runs it, with the divergence guard (a snapshot
  per epoch), ``metrics.csv`` and ``checkpoint.pt``/``best.pt`` (fsynced every epoch).
* ``DataLoader loop``: the tight loop fed by ``DataLoader(TensorDataset, shuffle=True)``.
* ``lrlab fit (DataLoader)``: ``fit`` on that same ``DataLoader`` with the same evaluation passed
  as ``evaluate=`` (a user's own task through the task contract); compared with the DataLoader
  loop as well as with the tight loop.
* ``Lightning``: ``lightning.Trainer`` with ``ScheduledLR`` (``interval="step"``) and no logger,
  checkpointing, progress bar, model summary, sanity check or ``self.log`` (its cheapest setup);
  skipped with a note when Lightning is not installed.

Contenders run alternately in one process: each round runs every one once, in an order that
rotates each round, with the same seed and thread count, after one untimed warm-up round of one
epoch each. A run's seconds per epoch is the wall time from the start of its first epoch to the
return of the call, divided by the epochs (per-epoch work of every kind counts; set-up is its own
column); ``CPU s/ep`` is the process CPU time over the same span. The table gives medians over
the rounds; ``× tight`` is the ratio of the medians, ``paired`` the median over rounds of the
ratio to the tight loop of the same round (the steadier figure on a busy machine).

Usage::

    .venv/bin/python bench/trainer_overhead.py [--epochs 3] [--rounds 7] [--threads N]
    .venv/bin/python bench/trainer_overhead.py --only "DataLoader loop,lrlab fit (DataLoader)"
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

import lrlab
from lrlab.data import Data, load_dataset
from lrlab.models import lenet
from lrlab.schedules import Schedule, parse
from lrlab.train import Callback, Checkpoint, DivergenceGuard, FitConfig, MetricsCsv, Run, fit

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-test"
BATCH, EVAL_BATCH, LR, MOMENTUM, SEED = 128, 2048, 0.05, 0.9, 0


@dataclass
class Timing:
    """One run: when it was called, when each epoch started, when it returned (wall and process CPU
    seconds), and its final accuracy."""

    called: float = 0.0
    epoch_starts: list[float] = field(default_factory=list)
    returned: float = 0.0
    cpu_first_epoch: float = 0.0
    cpu_returned: float = 0.0
    train_loss: float = float("nan")
    accuracy: float = float("nan")

    def epoch_started(self) -> None:
        if not self.epoch_starts:
            self.cpu_first_epoch = time.process_time()
        self.epoch_starts.append(time.perf_counter())

    def per_epoch(self) -> float:
        return (self.returned - self.epoch_starts[0]) / len(self.epoch_starts)

    def cpu_per_epoch(self) -> float:
        return (self.cpu_returned - self.cpu_first_epoch) / len(self.epoch_starts)

    def setup(self) -> float:
        return self.epoch_starts[0] - self.called


Contender = Callable[[Data, Schedule, int, Timing], None]


def load_mnist_8k() -> Data:
    images, labels = DATA_DIR / "t10k-images-idx3-ubyte.gz", DATA_DIR / "t10k-labels-idx1-ubyte.gz"
    if not images.exists() or not labels.exists():
        sys.exit(f"mnist-test files not found in {DATA_DIR}; this benchmark needs them.")
    return load_dataset(f'idx(images="{images}", labels="{labels}", test_size=2000)')


def schedule_for(epochs: int, steps_per_epoch: int) -> Schedule:
    """One epoch of linear warmup from 0.1, then cosine down to 0.01 over the other epochs."""
    decay = max(epochs - 1, 1) * steps_per_epoch
    return parse(f"warmup(steps={steps_per_epoch}, start=0.1) >> cosine(steps={decay}, end=0.01)")


def fresh(data: Data) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(SEED)
    model = lenet(tuple(data.x_train.shape[1:]), data.num_classes or 10)
    return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on ``(x, y)`` in batches of ``EVAL_BATCH``."""
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64)
    hits = torch.zeros((), dtype=torch.int64)
    for start in range(0, len(x), EVAL_BATCH):
        out, target = model(x[start : start + EVAL_BATCH]), y[start : start + EVAL_BATCH]
        loss_sum += functional.cross_entropy(out, target, reduction="sum")
        hits += (out.argmax(dim=1) == target).sum()
    model.train()
    return loss_sum.item() / len(x), hits.item() / len(x)


def _update(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> Tensor:
    loss = functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _set_lr(optimizer: torch.optim.Optimizer, base_lrs: list[float], multiplier: float) -> None:
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * multiplier


def tight_loop(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
    model, optimizer = fresh(data)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    x, y, n, step = data.x_train, data.y_train, len(data.x_train), 0
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        timing.epoch_started()
        order, total = torch.randperm(n, generator=generator), torch.zeros(())
        for begin in range(0, n, BATCH):
            index = order[begin : begin + BATCH]
            _set_lr(optimizer, base_lrs, schedule.at(step))
            total += _update(model, optimizer, x.index_select(0, index), y.index_select(0, index))
            step += 1
        timing.train_loss = total.item() / -(-n // BATCH)
        timing.accuracy = evaluate(model, data.x_test, data.y_test)[1]


def loader_of(data: Data) -> torch.utils.data.DataLoader[tuple[Tensor, ...]]:
    """``DataLoader(TensorDataset, shuffle=True)`` over the training tensors, seeded."""
    dataset = torch.utils.data.TensorDataset(data.x_train, data.y_train)
    generator = torch.Generator().manual_seed(SEED)
    return torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=generator)


def dataloader_loop(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
    model, optimizer = fresh(data)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    loader = loader_of(data)
    step = 0
    for _ in range(epochs):
        timing.epoch_started()
        total = torch.zeros(())
        for x, y in loader:
            _set_lr(optimizer, base_lrs, schedule.at(step))
            total += _update(model, optimizer, x, y)
            step += 1
        timing.train_loss = total.item() / len(loader)
        timing.accuracy = evaluate(model, data.x_test, data.y_test)[1]


class _EpochClock(Callback):
    def __init__(self, timing: Timing) -> None:
        self.timing = timing

    def on_epoch_start(self, run: Run) -> None:
        self.timing.epoch_started()


def lrlab_fit(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
    model, optimizer = fresh(data)
    config = FitConfig(epochs=epochs, batch_size=BATCH, seed=SEED, device="cpu", quiet=True)
    result = fit(model, data, optimizer, schedule, config=config, callbacks=[_EpochClock(timing)])
    timing.train_loss, timing.accuracy = result.final["train_loss"], result.final["val_acc"]


def lrlab_fit_dataloader(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
    """``fit`` on the DataLoader loop's own ``DataLoader`` and evaluation (a user's task)."""
    model, optimizer = fresh(data)
    config = FitConfig(epochs=epochs, batch_size=BATCH, seed=SEED, device="cpu", quiet=True)

    def scores(trained: nn.Module) -> dict[str, float]:
        loss, accuracy = evaluate(trained, data.x_test, data.y_test)
        return {"loss": loss, "acc": accuracy}

    callbacks = [_EpochClock(timing)]
    result = fit(
        model, loader_of(data), optimizer, schedule, evaluate=scores, config=config, callbacks=callbacks
    )
    timing.train_loss, timing.accuracy = result.final["train_loss"], result.final["val_acc"]


def lrlab_fit_recorded(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
    """``fit`` as ``lrlab train`` runs it: divergence guard, metrics.csv and checkpoints."""
    model, optimizer = fresh(data)
    config = FitConfig(epochs=epochs, batch_size=BATCH, seed=SEED, device="cpu", quiet=True)
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-run-") as run_dir:
        callbacks = [_EpochClock(timing), DivergenceGuard(), MetricsCsv(run_dir), Checkpoint(run_dir)]
        result = fit(model, data, optimizer, schedule, config=config, callbacks=callbacks, run_dir=run_dir)
    timing.train_loss, timing.accuracy = result.final["train_loss"], result.final["val_acc"]


def _lightning_module(lightning: Any) -> Any:
    """A LightningModule class doing what the tight loop does, through Lightning's hooks."""
    from lrlab import ScheduledLR

    class Module(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self, data: Data, schedule: Schedule, timing: Timing) -> None:
            super().__init__()
            self.model, self.optim = fresh(data)
            self.schedule, self.timing, self.held_out = schedule, timing, len(data.x_test)
            self.loss_sum = torch.zeros((), dtype=torch.float64)
            self.hits = torch.zeros((), dtype=torch.int64)

        def training_step(self, batch: list[Tensor], index: int) -> Tensor:
            return functional.cross_entropy(self.model(batch[0]), batch[1])

        def on_train_epoch_start(self) -> None:
            self.timing.epoch_started()

        def validation_step(self, batch: list[Tensor], index: int) -> None:
            out = self.model(batch[0])
            self.loss_sum += functional.cross_entropy(out, batch[1], reduction="sum")
            self.hits += (out.argmax(dim=1) == batch[1]).sum()

        def on_validation_epoch_end(self) -> None:
            self.val_loss = self.loss_sum.item() / self.held_out
            self.timing.accuracy = self.hits.item() / self.held_out
            self.loss_sum.zero_()
            self.hits.zero_()

        def configure_optimizers(self) -> dict[str, object]:
            scheduler = ScheduledLR(self.optim, self.schedule)
            return {"optimizer": self.optim, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return Module


def lightning_contender() -> Contender | None:
    """The Lightning contender, or None when Lightning is not installed."""
    try:
        import lightning
    except ImportError:
        return None
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    module_class = _lightning_module(lightning)

    def run(data: Data, schedule: Schedule, epochs: int, timing: Timing) -> None:
        module = module_class(data, schedule, timing)
        generator = torch.Generator().manual_seed(SEED)
        train = torch.utils.data.TensorDataset(data.x_train, data.y_train)
        held_out = torch.utils.data.TensorDataset(data.x_test, data.y_test)
        with tempfile.TemporaryDirectory(prefix="lrlab-bench-lightning-") as root:  # stays empty
            trainer = lightning.Trainer(
                max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                default_root_dir=root,
            )  # fmt: skip
            trainer.fit(
                module,
                torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True, generator=generator),
                torch.utils.data.DataLoader(held_out, batch_size=EVAL_BATCH),
            )

    return run


def measure(contender: Contender, data: Data, schedule: Schedule, epochs: int) -> Timing:
    timing = Timing(called=time.perf_counter())
    contender(data, schedule, epochs, timing)
    timing.returned, timing.cpu_returned = time.perf_counter(), time.process_time()
    return timing


def run_rounds(
    contenders: dict[str, Contender], data: Data, epochs: int, rounds: int
) -> dict[str, list[Timing]]:
    """Every contender once per round, the order rotating each round, after a warm-up round."""
    steps_per_epoch = -(-len(data.x_train) // BATCH)
    schedule = schedule_for(epochs, steps_per_epoch)
    for contender in contenders.values():  # warm-up: imports, allocator, one-time set-up
        measure(contender, data, schedule_for(1, steps_per_epoch), 1)
    names = list(contenders)
    timings: dict[str, list[Timing]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            timings[name].append(measure(contenders[name], data, schedule, epochs))
        print(f"round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return timings


def paired_ratios(timings: dict[str, list[Timing]], name: str, reference: str = "tight loop") -> list[float]:
    """Per round: ``name``'s seconds per epoch over ``reference``'s in the same round."""
    pairs = zip(timings[name], timings[reference], strict=True)
    return [run.per_epoch() / tight.per_epoch() for run, tight in pairs]


def header(epochs: int, rounds: int, load_before: float) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    versions = f"torch {torch.__version__}, lrlab {lrlab.__version__}, Python {platform.python_version()}"
    print(f"trainer overhead, LeNet on mnist-8k, batch {BATCH}, {epochs} epochs × {rounds} rounds")
    print(f"machine: {platform.node()} ({machine}; {versions})")
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\n")


def report(timings: dict[str, list[Timing]], skipped: list[str]) -> None:
    columns = ("s/epoch", 9), ("min", 8), ("max", 8), ("CPU s/ep", 10), ("setup s", 9), ("val_acc", 9)
    columns += ("× tight", 9), ("paired", 8), ("min/min", 9)
    header = "contender".ljust(23) + "".join(title.rjust(width) for title, width in columns)
    print(header + "\n" + "-" * len(header))
    tight = statistics.median(t.per_epoch() for t in timings["tight loop"])
    tight_min = min(t.per_epoch() for t in timings["tight loop"])
    for name, runs in timings.items():
        per_epoch = [t.per_epoch() for t in runs]
        median = statistics.median(per_epoch)
        cpu = statistics.median(t.cpu_per_epoch() for t in runs)
        setup = statistics.median(t.setup() for t in runs)
        paired = statistics.median(paired_ratios(timings, name))
        print(
            f"{name:<23}{median:>9.4f}{min(per_epoch):>8.4f}{max(per_epoch):>8.4f}{cpu:>10.4f}"
            f"{setup:>9.3f}{runs[-1].accuracy:>9.4f}{median / tight:>9.3f}{paired:>8.3f}"
            f"{min(per_epoch) / tight_min:>9.3f}"
        )
    print("\n".join(skipped))
    print(
        "\n× tight: ratio of the medians; paired: median over rounds of the ratio within a round; "
        "min/min: ratio of the fastest runs (the least disturbed by other load)"
    )
    pairs = [(name, "tight loop") for name in timings if name != "tight loop"]
    if {"lrlab fit (DataLoader)", "DataLoader loop"} <= set(timings):
        pairs.append(("lrlab fit (DataLoader)", "DataLoader loop"))
    for name, reference in pairs:
        ratios = paired_ratios(timings, name, reference)
        paired = statistics.median(ratios)
        spread = f"rounds {min(ratios):.3f}..{max(ratios):.3f}"
        print(f"{name} / {reference}: {paired:.3f} ({(paired - 1) * 100:+.1f}%; {spread})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--only", default=None, help="comma-separated contenders to run besides the tight loop (default: all)"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = load_mnist_8k()
    contenders: dict[str, Contender] = {
        "tight loop": tight_loop,
        "lrlab fit": lrlab_fit,
        "lrlab fit + callbacks": lrlab_fit_recorded,
        "DataLoader loop": dataloader_loop,
        "lrlab fit (DataLoader)": lrlab_fit_dataloader,
    }
    skipped = []
    lightning_run = lightning_contender()
    if lightning_run is None:
        skipped.append("Lightning: skipped (not installed; pip install lightning to include it)")
    else:
        contenders["Lightning"] = lightning_run
    if args.only is not None:
        chosen = {"tight loop", *(name.strip() for name in args.only.split(","))}
        unknown = sorted(chosen - set(contenders) - {"Lightning"})
        if unknown:
            parser.error(f"--only: unknown contender {unknown[0]!r}; known: {', '.join(contenders)}")
        contenders = {name: run for name, run in contenders.items() if name in chosen}
    load_before = os.getloadavg()[0]
    timings = run_rounds(contenders, data, args.epochs, args.rounds)
    header(args.epochs, args.rounds, load_before)
    report(timings, skipped)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
