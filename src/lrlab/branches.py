"""Decay branches: the results of a warmup-stable-decay (WSD) schedule at many training lengths
from one stable run (Hägele et al. 2024).

For lengths ``L1 < … < Lk`` (in updates) with cooldown share ``c``, length ``L``'s schedule is
``warmup(W) >> wsd(steps=L - W, decay_steps=round(c L), shape, end)``: constant after the warmup
until its branch point ``b = L - round(c L)``, then the cooldown. Before ``b`` every length's
schedule is the stable one, ``warmup(W) >> constant()``, so one stable run to ``max b`` saves
its whole state (weights, optimizer, random generators, counters) at each branch point, and each
length continues from its point with its own cooldown. A branch is then *the same computation*
as a straight WSD run of its length: the same LR at every step, the same batches, the same
weights (bit for bit on one device). Training every length separately costs ``Σ L`` updates;
branching costs ``max b + Σ c L``.

Folder ``<out>/<name>/``: ``stable/`` (the stable run, with ``at-<b>.pt`` states), ``wsd/L<L>/``
(each branch, a run directory whose ``metrics.csv`` holds the stable rows and its own),
``cosine/L<L>/`` (with ``cosine=True``: separate warmup + cosine runs of each length, to compare),
``summary.csv`` and ``branches.png``. Every run is resumable: run the same call again after a kill;
finished runs are kept. With ``jobs > 1`` the cosine runs train beside the stable run and the
branches beside each other in spawned worker processes.

Branch points must fall on epoch boundaries (the state is saved after an epoch): choose lengths
whose branch points are multiples of the task's steps per epoch.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lrlab.config import Experiment, validate
from lrlab.errors import LrlabError, invalid
from lrlab.record import copy_file, write_text, write_torch
from lrlab.record.files import SUMMARY_JSON, read_json
from lrlab.schedules import Schedule, constant, cosine, warmup, wsd
from lrlab.train.callbacks import Callback
from lrlab.train.checkpoint import CHECKPOINT
from lrlab.train.state import Run

Shape = Literal["linear", "cosine", "1-sqrt"]
SHAPES = ("linear", "cosine", "1-sqrt")
SUMMARY_CSV = "summary.csv"
FIGURE = "branches.png"


@dataclass(frozen=True)
class Plan:
    """Lengths, their branch points, and the schedules of a decay-branch study."""

    lengths: tuple[int, ...]
    warmup: int
    cooldown: float
    shape: str
    end: float
    steps_per_epoch: int

    def __post_init__(self) -> None:
        lengths = self.lengths
        if not lengths or any(isinstance(n, bool) or not isinstance(n, int) for n in lengths):
            raise invalid("lengths", "integers (updates), like [400, 800, 1200]", list(lengths))
        if list(lengths) != sorted(set(lengths)):
            raise invalid("lengths", "increasing and distinct", list(lengths))
        if not 0 < self.cooldown < 1:
            raise invalid("cooldown", "a share of each length in (0, 1), like 0.2", self.cooldown)
        if self.shape not in SHAPES:
            raise invalid("shape", f"one of {', '.join(SHAPES)}", self.shape)
        if not 0 <= self.end < 1:
            raise invalid("end", "a multiplier in [0, 1)", self.end)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise invalid("warmup", "an integer >= 0 (updates)", self.warmup)
        if self.warmup >= self.point(lengths[0]):
            raise invalid("warmup", f"below the first branch point {self.point(lengths[0])}", self.warmup)
        off = [self.point(n) for n in lengths if self.point(n) % self.steps_per_epoch]
        if off:
            raise LrlabError(
                f"branch point {off[0]} is not a multiple of the task's {self.steps_per_epoch} steps per "
                "epoch (states are saved after an epoch); choose lengths whose branch points "
                f"(length - round({self.cooldown:g} × length)) are, or change the steps per epoch."
            )

    def point(self, length: int) -> int:
        """Where length ``length`` leaves the stable phase."""
        return length - round(self.cooldown * length)

    def stable(self) -> Schedule:
        """The schedule of the stable run."""
        return warmup(steps=self.warmup, start=0.1) >> constant() if self.warmup else constant()

    def branch(self, length: int) -> Schedule:
        """The WSD schedule of ``length`` updates."""
        decay = wsd(
            steps=length - self.warmup,
            decay_steps=length - self.point(length),
            shape=self.shape,
            end=self.end,
        )
        return warmup(steps=self.warmup, start=0.1) >> decay if self.warmup else decay

    def cosine(self, length: int) -> Schedule:
        """Warmup then cosine over ``length`` updates, to the same end."""
        decay = cosine(steps=length - self.warmup, end=self.end)
        return warmup(steps=self.warmup, start=0.1) >> decay if self.warmup else decay

    @property
    def separate_steps(self) -> int:
        """Updates to train every length on its own."""
        return sum(self.lengths)

    @property
    def branched_steps(self) -> int:
        """Updates of the stable run and the cooldowns."""
        return self.point(self.lengths[-1]) + sum(n - self.point(n) for n in self.lengths)


class SaveBranchPoints(Callback):
    """After the epoch that ends at a branch point, keep a copy of ``checkpoint.pt`` as
    ``at-<step>.pt`` (atomically)."""

    order = 250  # after Checkpoint has written the epoch
    writes_files = True

    def __init__(self, folder: Path, points: Sequence[int]) -> None:
        self.folder, self.points = folder, set(points)

    def on_epoch_end(self, run: Run, metrics: Any) -> None:
        if run.state.step in self.points:
            copy_file(self.folder / CHECKPOINT, self.folder / f"at-{run.state.step}.pt")


def with_schedule(experiment: Experiment, schedule: Schedule, steps: int) -> Experiment:
    """``experiment`` with ``schedule`` for ``steps`` updates, one seed, no variants."""
    data = experiment.model_dump(exclude={"variant"})
    data["train"]["steps"] = steps
    return validate({**data, "schedule": str(schedule), "seeds": 1})


def branches(
    experiment: Experiment,
    plan: Plan,
    *,
    out: str | Path = "runs",
    cosine_runs: bool = True,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Train the study of ``plan`` (see the module docs); return one row per length with the
    final validation loss of its branch (and of its cosine run), also in ``summary.csv``."""
    from lrlab.train.run import train

    folder = Path(out).expanduser() / experiment.name
    stable_dir = folder / "stable"
    points = [plan.point(n) for n in plan.lengths]
    pool = _pool(jobs)
    try:
        pending: list[Future[Any]] = []
        if cosine_runs:
            for length in plan.lengths:
                pending.append(
                    _start(
                        pool,
                        with_schedule(experiment, plan.cosine(length), length),
                        folder / "cosine" / f"L{length}",
                    )
                )
        if not (stable_dir / SUMMARY_JSON).exists():
            stable = with_schedule(experiment, plan.stable(), points[-1])
            train(
                stable,
                run_dir=stable_dir,
                resume=True,
                quiet=True,
                callbacks=[SaveBranchPoints(stable_dir, points)],
            )
        for length, point in zip(plan.lengths, points, strict=True):
            branch_dir = folder / "wsd" / f"L{length}"
            branched = with_schedule(experiment, plan.branch(length), length)
            seed_branch(stable_dir / f"at-{point}.pt", branch_dir, plan.stable(), plan.branch(length), point)
            pending.append(_start(pool, branched, branch_dir))
        for future in pending:
            future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    rows = summarize(folder, plan, cosine_runs)
    plot_branches(rows, folder / FIGURE)
    return rows


def seed_branch(state: Path, branch_dir: Path, stable: Schedule, branch: Schedule, point: int) -> None:
    """Start ``branch_dir`` from the stable run's state at ``point``: a ``checkpoint.pt`` labelled
    with the branch's schedule, after checking that both schedules agree on every step taken."""
    if (branch_dir / CHECKPOINT).exists() or (branch_dir / SUMMARY_JSON).exists():
        return  # started (or finished) before: it resumes from its own checkpoint
    disagree = next(
        (t for t in range(point) if not math.isclose(stable.at(t), branch.at(t), rel_tol=1e-12)), None
    )
    if disagree is not None:
        raise LrlabError(
            f"the branch schedule {branch} leaves the stable one at step {disagree}, before {point}."
        )
    saved = torch.load(state, map_location="cpu", weights_only=True)
    if saved["state"]["step"] != point:
        raise LrlabError(f"{state} holds step {saved['state']['step']}, not the branch point {point}.")
    saved["schedule"] = str(branch)
    write_torch(branch_dir / CHECKPOINT, saved)


def _pool(jobs: int) -> ProcessPoolExecutor | None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise invalid("jobs", "an integer >= 1", jobs)
    if jobs == 1:
        return None
    from lrlab.parallel import SPAWN, worker_threads

    return ProcessPoolExecutor(
        jobs - 1, mp_context=SPAWN, initializer=_start_worker, initargs=(worker_threads(jobs), os.getpid())
    )


def _start_worker(threads: int, parent: int) -> None:
    from lrlab import lifeline

    lifeline.die_with_parent(parent)  # the pool's workers are started by submit(), in the main thread
    torch.set_num_threads(threads)


def _start(pool: ProcessPoolExecutor | None, experiment: Experiment, run_dir: Path) -> Future[Any]:
    if pool is not None:
        return pool.submit(train_run, experiment, run_dir)
    done: Future[Any] = Future()
    train_run(experiment, run_dir)
    done.set_result(None)
    return done


def train_run(experiment: Experiment, run_dir: Path) -> None:
    """Train (or resume, or skip when finished) one run of the study."""
    from lrlab.train.run import train

    if not (run_dir / SUMMARY_JSON).exists():
        train(experiment, run_dir=run_dir, resume=True, quiet=True)


def summarize(folder: Path, plan: Plan, cosine_runs: bool) -> list[dict[str, Any]]:
    """One row per length: the branch's and the cosine run's final validation loss; written to
    ``summary.csv``."""
    rows = []
    for length in plan.lengths:
        row: dict[str, Any] = {"length": length, "branch_point": plan.point(length)}
        for kind in ("wsd", "cosine") if cosine_runs else ("wsd",):
            summary = read_json(folder / kind / f"L{length}" / SUMMARY_JSON)
            row[f"{kind}_val_loss"] = summary["final"].get("val_loss", math.nan)
        rows.append(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(folder / SUMMARY_CSV, buffer.getvalue())
    return rows


def plot_branches(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Final validation loss against training length: WSD branches, and cosine runs when there."""
    from lrlab.report.plots import new_figure, save_figure

    figure = new_figure()
    ax = figure.add_subplot()
    lengths = [row["length"] for row in rows]
    ax.plot(lengths, [row["wsd_val_loss"] for row in rows], "o-", label="WSD, branched from one stable run")
    if "cosine_val_loss" in rows[0]:
        ax.plot(
            lengths, [row["cosine_val_loss"] for row in rows], "s--", label="warmup + cosine, separate runs"
        )
    ax.set_xlabel("training length (updates)")
    ax.set_ylabel("final validation loss")
    ax.legend()
    return save_figure(figure, path)
