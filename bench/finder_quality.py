"""How good are range-test suggestions? Each is trained and compared with a log grid's best, on the
18 cases of ``finder_cases.py`` (a development half and a validation half).

Per case and seed ``s``: a range test with seed ``s`` (the model initialized with seed ``s``); every
suggestion trained with seed ``s`` for the case's budget; scores are test means over the seeds.
The oracle is the grid's best mean. The gap is in points: accuracy points; R² points for
regression (``100 × (MSE − best) / Var(y_test)``); for the language model, percent of the best
validation loss (``100 × (loss − best) / best``). A training is *diverged* when it ends no better
than a model that learned nothing (``finder_cases.diverged``); it scores as chance.

Suggesters: lrlab's default and each single method; the default with ``--confirm 3`` (trainings of
the case's budget on 90 % of the training split, scored on the other 10 %, through
``lrlab.finder.confirm``); the same three trainings as a bracket of the stable region instead
(``lrlab + bracket 3``: the default, the lowest loss's LR, and their geometric mean); successive
halving over the stable region for the compute of two such trainings (``lrlab + halving (2)``: 9
LRs from a third of the default to the lowest loss for a ninth of the updates, the best 3 for a
third, the best of those kept);
torch-lr-finder (its README set-up: ``1e-7`` to 100, 100 steps, steepest), Lightning's
``Tuner.lr_find`` (defaults), and fastai's ``valley`` written from its published definition
(``1e-7`` to 10, 100 steps, stop at 4× the best debiased EMA (β 0.98) of the loss, the longest
decreasing stretch of that EMA after dropping the first tenth and the last 5 steps, read
``len/3 + len/6`` in; run on lrlab's sweep, whose ladder includes its end, where fastai's stops
one rung short of it).

Two more rows train the recommendation for the case's budget: ``lrlab, printed (one-cycle)``, the
command ``lrlab find-lr`` prints (``--lr`` the range's top, one-cycle from its base), and ``lrlab,
warmup + cosine`` (``--lr`` the default, 5 % warmup, cosine to 0.01). They are judged against the
same grid of constant LRs.

The sweeps' curves are kept in the cache, so a changed rule is judged again without sweeping.

Usage::

    .venv/bin/python bench/finder_quality.py [--cases a,b | --half dev|val|fresh] [--jobs 2] [--cache FILE]
    .venv/bin/python bench/finder_quality.py --overhead   # a sweep's cost against plain steps
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent import futures
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from finder_cases import (
    BY_NAME,
    CASES,
    FRESH,
    Case,
    budget_steps,
    build,
    case_data,
    diverged,
    loss_module,
    trivial,
)
from torch import nn

import lrlab
from lrlab.data import Data
from lrlab.finder import Sweep, SweepConfig, confirm, find_lr
from lrlab.finder.curve import Curve
from lrlab.finder.descent import find_descent
from lrlab.finder.recommend import cycle_range, one_cycle_spec, warmup_cosine
from lrlab.finder.suggest import peak_step, settled_bottom, suggest_all
from lrlab.optim import build_optimizer
from lrlab.task import Task

CACHE = Path(__file__).resolve().parent / ".cache" / "finder_quality.json"
METHODS = ("lrlab", "edge", "steepest", "valley", "minimum")
SCHEDULED = ("lrlab, printed (one-cycle)", "lrlab, warmup + cosine")
ANCHORS = ("torch-lr-finder", "lightning", "fastai valley")
CONFIRM = "lrlab + confirm 3"
BRACKET = "lrlab + bracket 3"
HALVING = "lrlab + halving (2)"

# ---------------------------------------------------------------- work done in worker processes


def sweep_job(case: Case, seed: int) -> dict[str, Any]:
    """The default range test of the case with ``seed``: its curve."""
    model, optimizer = build(case, 0.1, seed)
    result = find_lr(
        model,
        case_data(case),
        optimizer,
        config=SweepConfig(batch_size=case.batch_size, seed=seed, device="cpu"),
    )
    return {"values": list(result.values), "losses": list(result.losses), "momentum": result.momentum}


def score_job(case: Case, lr: float, seed: int, schedule: str | None = None) -> float | None:
    from finder_cases import score

    value = score(case, lr, seed, schedule)
    return None if math.isnan(value) else value


def confirm_job(case: Case, seed: int, lr: float, cap: float | None, bracket: bool = False) -> float:
    """``--confirm 3`` around ``lr``, scored on 10 % of the training split (the language model's
    own validation windows); with ``bracket``, three trainings from ``lr`` up to the lowest loss's
    LR instead (``lr``, their geometric mean, ``cap``)."""
    from lrlab.data.dataset import split_validation

    data = case_data(case)
    held = split_validation(data, 0.1, seed) if isinstance(data, Data) else data

    def fresh(rate: float) -> tuple[nn.Module, torch.optim.Optimizer]:
        return build(case, rate, seed)

    lrs = [lr, math.sqrt(lr * cap), cap] if bracket and cap and cap > lr else None
    return confirm(fresh, held, lr, trainings=3, config=case.fit_config(seed), cap=cap, lrs=lrs).best_lr


def halving_job(case: Case, seed: int, lr: float, cap: float | None) -> float:
    """Successive halving over the stable region for the compute of two trainings: 9 LRs spread
    evenly (in log) from ``lr / 3`` to the lowest loss's LR, each trained for a ninth of the
    case's updates; the best 3 for a third; the best of those (one-standard-error rule) wins.
    Scored as ``confirm_job`` is."""
    from lrlab.data.dataset import split_validation

    data = case_data(case)
    held = split_validation(data, 0.1, seed) if isinstance(data, Data) else data
    steps = budget_steps(case)
    top = max(cap or lr, lr)
    low = lr / 3
    lrs = [low * (top / low) ** (k / 8) for k in range(9)]

    def fresh(rate: float) -> tuple[nn.Module, torch.optim.Optimizer]:
        return build(case, rate, seed)

    first = confirm(fresh, held, lr, config=case.fit_config(seed, steps=max(steps // 9, 2)), lrs=lrs)
    higher = first.metric == "val_acc"
    ranked = sorted(first.trials, key=lambda t: -t.score if higher else t.score)
    kept = sorted(t.lr for t in ranked[:3] if math.isfinite(t.score)) or [lr]
    return confirm(fresh, held, lr, config=case.fit_config(seed, steps=max(steps // 3, 2)), lrs=kept).best_lr


def batches(case: Case, seed: int) -> torch.utils.data.DataLoader[Any]:
    """A DataLoader of the case's training batches, for the anchors that need one."""
    data = case_data(case)
    if isinstance(data, Task):
        ids, context = data.train.ids, data.input_shape[0]  # type: ignore[attr-defined]
        starts = torch.randint(
            0, len(ids) - context, (4096, 1), generator=torch.Generator().manual_seed(seed)
        )
        windows = ids[starts + torch.arange(context + 1)]
        dataset = torch.utils.data.TensorDataset(windows[:, :-1], windows[:, 1:])
    else:
        dataset = torch.utils.data.TensorDataset(data.x_train, data.y_train)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=case.batch_size, shuffle=True, generator=generator)


def criterion(case: Case) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if case.metric == "loss":
        return lambda out, y: nn.functional.cross_entropy(out.flatten(0, 1), y.flatten())
    return loss_module(case)


def torch_lr_finder(case: Case, seed: int) -> float | None:
    from matplotlib.figure import Figure
    from torch_lr_finder import LRFinder

    model, optimizer = build(case, 1e-7, seed)
    finder = LRFinder(model, optimizer, criterion(case), device="cpu")
    finder.range_test(batches(case, seed), end_lr=100, num_iter=100)
    try:
        _, lr = finder.plot(ax=Figure().add_subplot(), suggest_lr=True)
    except (RuntimeError, ValueError):
        return None
    return float(lr) if lr is not None else None


def lightning_lr_find(case: Case, seed: int) -> float | None:
    import tempfile

    import lightning

    loss_of = criterion(case)

    class Module(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lr = 1e-3
            self.net, _ = build(case, self.lr, seed)

        def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
            return loss_of(self.net(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return build_optimizer(self.net, case.optimizer, self.lr)

    with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as root:
        trainer = lightning.Trainer(
            accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, max_epochs=100,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
        )  # fmt: skip
        found = lightning.pytorch.tuner.Tuner(trainer).lr_find(
            Module(), train_dataloaders=batches(case, seed)
        )
    suggestion = found.suggestion() if found is not None else None
    return float(suggestion) if suggestion is not None else None


def fastai_valley(case: Case, seed: int) -> float | None:
    """fastai's ``lr_find`` + ``valley`` from their published definitions (see the module docs)."""
    model, optimizer = build(case, 0.1, seed)
    config = SweepConfig(batch_size=case.batch_size, seed=seed, device="cpu")
    result = find_lr(model, case_data(case), optimizer, sweep=Sweep(1e-7, 10, 100), config=config)
    finite = [i for i, value in enumerate(result.smoothed) if math.isfinite(value)]
    lrs = [result.values[i] for i in finite][10:-5]
    losses = [result.smoothed[i] for i in finite][10:-5]
    if len(losses) < 2:
        return None
    lengths, end = [1] * len(losses), 0
    for i in range(1, len(losses)):
        lengths[i] = 1 + max((lengths[j] for j in range(i) if losses[j] > losses[i]), default=0)
        end = i if lengths[i] > lengths[end] else end
    start = end - lengths[end]
    sections = (end - start) / 3
    return lrs[start + int(sections) + int(sections / 2)]


ANCHOR_FUNCTIONS: dict[str, Callable[[Case, int], float | None]] = {
    "torch-lr-finder": torch_lr_finder,
    "lightning": lightning_lr_find,
    "fastai valley": fastai_valley,
}


def anchor_job(name: str, case: Case, seed: int) -> float | None:
    for logger in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return ANCHOR_FUNCTIONS[name](case, seed)


def run_job(job: tuple[Any, ...]) -> Any:
    """One unit of work by its key: ``(kind, case name, …)``."""
    torch.set_num_threads(1)
    kind, name, *rest = job
    case = BY_NAME[name]
    if kind == "range-test":
        return sweep_job(case, *rest)
    if kind in ("score", "scheduled"):
        return score_job(case, *rest)
    if kind in ("confirm", "bracket"):
        return confirm_job(case, *rest, bracket=kind == "bracket")
    if kind == "halving":
        return halving_job(case, *rest)
    return anchor_job(rest[0], case, rest[1])


# ---------------------------------------------------------------- the main process


class Cache:
    """Results by job key, kept in a JSON file (rewritten atomically after each result)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    @staticmethod
    def key(job: tuple[Any, ...]) -> str:
        return "|".join(f"{part:.6g}" if isinstance(part, float) else str(part) for part in job)

    def has(self, job: tuple[Any, ...]) -> bool:
        return self.key(job) in self.data

    def __getitem__(self, job: tuple[Any, ...]) -> Any:
        return self.data[self.key(job)]

    def put(self, job: tuple[Any, ...], value: Any) -> None:
        self.data[self.key(job)] = value
        self.path.parent.mkdir(exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data))
        partial.replace(self.path)


def compute(jobs: Iterable[tuple[Any, ...]], cache: Cache, pool: futures.Executor, what: str) -> None:
    """Run the jobs not yet in the cache, in the pool, storing each result as it arrives."""
    todo = list(dict.fromkeys(job for job in jobs if not cache.has(job)))
    if not todo:
        return
    began = time.perf_counter()
    print(f"  … {len(todo)} {what}", file=sys.stderr, flush=True)
    running = {pool.submit(run_job, job): job for job in todo}
    for done in futures.as_completed(running):
        cache.put(running[done], done.result())
    print(f"    done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)


def curve_of(case: Case, seed: int, cache: Cache) -> Curve:
    stored = cache[("range-test", case.name, seed)]
    return Curve.of(stored["values"], stored["losses"], stored["momentum"])


def suggestions(case: Case, seed: int, cache: Cache) -> dict[str, float | None]:
    """Every lrlab method's LR read off the stored sweep with the rules as they are now."""
    answers = suggest_all(curve_of(case, seed, cache))
    return {name: answers[name].value for name in METHODS}


def lowest(curve: Curve) -> float | None:
    """The LR of the lowest loss before any spike, as ``RangeTestResult.lowest`` reads it."""
    descent = find_descent(curve)
    return None if isinstance(descent, str) else curve.values[settled_bottom(descent)]


def first_jobs(case: Case, anchors: bool) -> list[tuple[Any, ...]]:
    """The grid's trainings, the range tests and the anchors' suggestions."""
    seeds = range(case.seeds)
    jobs: list[tuple[Any, ...]] = [("score", case.name, lr, s) for lr in case.grid for s in seeds]
    jobs += [("range-test", case.name, s) for s in seeds]
    return jobs + [("anchor", case.name, a, s) for a in (ANCHORS if anchors else ()) for s in seeds]


def picks_of(case: Case, cache: Cache, anchors: bool) -> dict[str, list[float | None]]:
    """Each suggester's LR per seed (``--confirm 3``'s where the cache has it)."""
    seeds = range(case.seeds)
    picks: dict[str, list[float | None]] = {
        name: [] for name in (*METHODS, CONFIRM, BRACKET, HALVING, *(ANCHORS if anchors else ()))
    }
    for s in seeds:
        found = suggestions(case, s, cache)
        for name in METHODS:
            picks[name].append(found[name])
        for name in ANCHORS if anchors else ():
            picks[name].append(cache[("anchor", case.name, name, s)])
        for name, kind in ((CONFIRM, "confirm"), (BRACKET, "bracket"), (HALVING, "halving")):
            job = confirm_key(case, s, found["lrlab"], cache, kind)
            picks[name].append(cache[job] if job and cache.has(job) else None)
    return picks


def scheduled_jobs(case: Case, seed: int, cache: Cache) -> dict[str, tuple[Any, ...] | None]:
    """The recommendation's two schedules for the case's budget (``lrlab.finder.recommend``): the
    one-cycle ``lrlab find-lr`` prints (``--lr`` the range's top), and warmup + cosine at the LR."""
    lr = suggestions(case, seed, cache)["lrlab"]
    if lr is None:
        return dict.fromkeys(SCHEDULED)
    steps = budget_steps(case)
    curve = curve_of(case, seed, cache)
    descent = find_descent(curve)
    assert not isinstance(descent, str)
    base, high = cycle_range(lr, curve.values[peak_step(curve, descent)])
    return {
        SCHEDULED[0]: ("scheduled", case.name, high, seed, one_cycle_spec(steps, base, high)),
        SCHEDULED[1]: ("scheduled", case.name, lr, seed, warmup_cosine(steps)),
    }


def confirm_key(
    case: Case, seed: int, lr: float | None, cache: Cache, kind: str = "confirm"
) -> tuple[Any, ...] | None:
    """The job of ``--confirm 3`` (``kind="confirm"``) or of the bracket (``"bracket"``)."""
    return None if lr is None else (kind, case.name, seed, lr, lowest(curve_of(case, seed, cache)))


def trainings(case: Case, picks: dict[str, list[float | None]]) -> list[tuple[Any, ...]]:
    return [("score", case.name, lr, s) for lrs in picks.values() for s, lr in enumerate(lrs) if lr]


def evaluate(
    cases: list[Case], cache: Cache, pool: futures.Executor, anchors: bool
) -> dict[str, dict[str, Any]]:
    """Grids, suggestions and their scores (computing what the cache lacks, all cases at once)."""
    compute(
        [job for case in cases for job in first_jobs(case, anchors)],
        cache,
        pool,
        "grid trainings, range tests, anchors",
    )
    confirms = [
        confirm_key(case, s, suggestions(case, s, cache)["lrlab"], cache, kind)
        for case in cases
        for s in range(case.seeds)
        for kind in ("confirm", "bracket", "halving")
    ]
    compute([job for job in confirms if job], cache, pool, "confirmations")
    picks = {case.name: picks_of(case, cache, anchors) for case in cases}
    planned = {(case.name, s): scheduled_jobs(case, s, cache) for case in cases for s in range(case.seeds)}
    jobs = [job for case in cases for job in trainings(case, picks[case.name])]
    jobs += [job for plan in planned.values() for job in plan.values() if job]
    compute(jobs, cache, pool, "trainings of suggestions")
    results = {}
    for case in cases:
        seeds = range(case.seeds)
        grid = {lr: [cache[("score", case.name, lr, s)] for s in seeds] for lr in case.grid}
        scores = {
            name: [None if lr is None else cache[("score", case.name, lr, s)] for s, lr in enumerate(lrs)]
            for name, lrs in picks[case.name].items()
        }
        for name in SCHEDULED:
            jobs_of = [planned[case.name, s][name] for s in seeds]
            picks[case.name][name] = [None if job is None else job[2] for job in jobs_of]
            scores[name] = [None if job is None else cache[job] for job in jobs_of]
        results[case.name] = {"grid": grid, "picks": picks[case.name], "scores": scores}
    return results


def as_score(case: Case, value: float | None) -> float:
    """A training that ended no better than a model that learned nothing scores as one."""
    return trivial(case) if value is None or diverged(case, value) else value


def blew_up(case: Case, value: float | None, lr: float, best_lr: float) -> bool:
    """Diverged: learned nothing at an LR above the grid's best (below it, the LR was too low)."""
    return lr > best_lr and (value is None or diverged(case, value))


def mean_score(case: Case, values: list[float | None]) -> float:
    return statistics.fmean(as_score(case, value) for value in values)


def gap(case: Case, best: float, value: float) -> float:
    """Points behind the grid's best (see the module docs)."""
    if case.metric == "acc":
        return 100 * (best - value)
    if case.metric == "mse":
        return 100 * (value - best) / trivial(case)
    return 100 * (value - best) / best


def summarize(case: Case, result: dict[str, Any]) -> dict[str, Any]:
    """Per suggester: LRs, mean score, gap and diverged trainings."""
    grid = {lr: mean_score(case, values) for lr, values in result["grid"].items()}
    best_lr = (max if case.higher_is_better else min)(grid, key=grid.__getitem__)
    rows = {}
    for name, lrs in result["picks"].items():
        values = result["scores"][name]
        complete = all(lr is not None for lr in lrs)
        score = mean_score(case, values) if complete else None
        rows[name] = {
            "lrs": lrs,
            "score": score,
            "gap": None if score is None else gap(case, grid[best_lr], score),
            "diverged": sum(
                1
                for v, lr in zip(values, lrs, strict=True)
                if lr is not None and blew_up(case, v, lr, best_lr)
            ),
            "none": sum(lr is None for lr in lrs),
        }
    return {"grid": grid, "best_lr": best_lr, "rows": rows}


def shown(case: Case, value: float) -> str:
    return f"{100 * value:.2f}" if case.metric == "acc" else f"{value:.4f}"


def print_case(case: Case, summary: dict[str, Any]) -> None:
    print(f"\n{case.name} [{case.half}]: {case.describe()}, {case.seeds} seeds")
    print("  grid: " + "  ".join(f"{lr:g}:{shown(case, v)}" for lr, v in summary["grid"].items()))
    print(
        f"  oracle: lr {summary['best_lr']:g}, "
        f"{case.metric} {shown(case, summary['grid'][summary['best_lr']])}"
    )
    print(f"  {'suggester':<18} {'LRs (min–max)':<20} {case.metric:>8} {'gap':>7} {'div':>4}")
    for name, row in summary["rows"].items():
        found = [lr for lr in row["lrs"] if lr is not None]
        span = f"{min(found):.3g}–{max(found):.3g}" if found else "none"
        span += f" ({row['none']} none)" if found and row["none"] else ""
        score = "n/a" if row["score"] is None else shown(case, row["score"])
        difference = "n/a" if row["gap"] is None else f"{row['gap']:.2f}"
        print(f"  {name:<18} {span:<20} {score:>8} {difference:>7} {row['diverged']:>4}")


def print_totals(cases: list[Case], summaries: dict[str, dict[str, Any]]) -> None:
    """Per half and suggester: median and worst gap, cases behind an anchor, diverged trainings."""
    print("\nsummary: gap to the grid's best in points (median, worst), diverged trainings (of all seeds)")
    names = list(next(iter(summaries.values()))["rows"])
    for half in ("dev", "val", "fresh", "all"):
        chosen = [case for case in cases if half in ("all", case.half)]
        if not chosen:
            continue
        print(f"  {half} ({len(chosen)} cases)")
        for name in names:
            gaps = [summaries[c.name]["rows"][name]["gap"] for c in chosen]
            known = [g for g in gaps if g is not None]
            diverged_runs = sum(summaries[c.name]["rows"][name]["diverged"] for c in chosen)
            median = f"{statistics.median(known):.2f}" if known else "n/a"
            worst = f"{max(known):.2f}" if known else "n/a"
            missing = (
                f", {len(gaps) - len(known)} cases without a suggestion" if len(known) < len(gaps) else ""
            )
            print(f"    {name:<18} median {median:>6}  worst {worst:>6}  diverged {diverged_runs}{missing}")
        behind = [
            c.name
            for c in chosen
            for anchor in ANCHORS
            if (g := summaries[c.name]["rows"].get(anchor, {}).get("gap")) is not None
            and summaries[c.name]["rows"]["lrlab"]["gap"] is not None
            and summaries[c.name]["rows"]["lrlab"]["gap"] > g + 1e-9
        ]
        print(f"    cases where the default is behind an anchor: {', '.join(sorted(set(behind))) or 'none'}")


def overhead(rounds: int = 7) -> float:
    """Median over alternating rounds of (a sweep of N steps) / (N plain steps of ``fit``'s epoch
    loop ``train_epoch``), on LeNet / mnist-8k (the first case), in this process."""
    from lrlab.schedules import constant
    from lrlab.train import FitConfig, Run
    from lrlab.train.feed import bind
    from lrlab.train.loop import train_epoch

    case = CASES[0]
    data = case_data(case)
    assert isinstance(data, Data)
    steps = -(-len(data.x_train) // case.batch_size)
    ratios = []
    for number in range(rounds):
        model, optimizer = build(case, 0.01, number)
        began = time.perf_counter()
        config = SweepConfig(batch_size=case.batch_size, seed=number, device="cpu")
        find_lr(model, data, optimizer, sweep=Sweep(1e-3, 1e-2, steps), config=config)
        sweep = time.perf_counter() - began
        model, optimizer = build(case, 0.01, number)
        fit_config = FitConfig(batch_size=case.batch_size, seed=number, device="cpu")
        run = Run(model, optimizer, constant(), fit_config, [0.01] * len(optimizer.param_groups), steps)
        workload = bind(data, fit_config, torch.device("cpu"), run.world)
        began = time.perf_counter()
        train_epoch(run, workload, torch.device("cpu"))
        ratios.append(sweep / (time.perf_counter() - began))
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--half",
        choices=("dev", "val", "fresh"),
        help="only this half of the suite (fresh: cases kept out of it)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one torch thread each)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="results kept between runs")
    parser.add_argument(
        "--no-anchors", action="store_true", help="leave out torch-lr-finder, Lightning, fastai"
    )
    parser.add_argument("--overhead", action="store_true", help="only time a sweep against plain steps")
    args = parser.parse_args()
    if args.overhead:
        torch.set_num_threads(1)
        print(f"sweep cost: {overhead():.3f}× the same number of plain training steps (LeNet, median of 7)")
        return
    chosen = [
        case
        for case in (*CASES, *FRESH)
        if (case.name in args.cases.split(",") if args.cases else args.half in (None, case.half))
        and (args.half is not None or case.half != "fresh" or args.cases)
    ]
    cache = Cache(args.cache)
    began = time.perf_counter()
    print(
        f"finder quality, {datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, {args.jobs} workers"
    )
    print(f"torch {torch.__version__}, lrlab {lrlab.__version__}, Python {platform.python_version()}")
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        results = evaluate(chosen, cache, pool, not args.no_anchors)
    summaries = {case.name: summarize(case, results[case.name]) for case in chosen}
    for case in chosen:
        print_case(case, summaries[case.name])
    print_totals(chosen, summaries)
    print(f"\nwall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
