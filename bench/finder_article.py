"""The recommendation judged at full length, on the article's setting: LeNet on mnist-8k, plain
``sgd()``, batch 128, 10 epochs. Per seed: ``lrlab find-lr --epochs 10 --seed s`` prints a
``lrlab train`` command; that command is run exactly as printed and its test accuracy read from
the run's ``summary.json``; so is the alternative it gives (``--lr`` the suggestion, its warmup +
cosine ``schedule``), with the same other flags. Beside them, the same ``lrlab train`` flags
with a constant LR of 0.3, cosine from 0.3, and multistep from 0.3 (×0.1 after epochs 5 and 8).

Usage::

    .venv/bin/python bench/finder_article.py [--seeds 5] [--jobs 2] [--no-baselines]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist-test"
MNIST_8K = (
    f'idx(images="{MNIST}/t10k-images-idx3-ubyte.gz", labels="{MNIST}/t10k-labels-idx1-ubyte.gz", '
    "test_size=2000)"
)
SETTING = [
    "--dataset",
    MNIST_8K,
    "--model",
    "lenet",
    "--optimizer",
    "sgd()",
    "--batch-size",
    "128",
    "--epochs",
    "10",
]
BASELINES = {
    "constant 0.3": ["--lr", "0.3", "--schedule", "constant()"],
    "cosine from 0.3": ["--lr", "0.3", "--schedule", "cosine(steps=10, end=0.0)", "--interval", "epoch"],
    "multistep from 0.3": [
        "--lr",
        "0.3",
        "--schedule",
        "multistep(milestones=[5, 8], gamma=0.1)",
        "--interval",
        "epoch",
    ],
}


def cli(words: list[str]) -> tuple[int, str]:
    """``lrlab`` in this process, its stdout captured."""
    import torch

    from lrlab.cli import main

    torch.set_num_threads(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(words)
    return code, out.getvalue()


def train(words: list[str]) -> dict[str, object]:
    """Run ``lrlab train`` words (without ``lrlab train``) in a fresh folder: test accuracy, LR."""
    with tempfile.TemporaryDirectory(prefix="lrlab-article-") as folder:
        code, _ = cli(["train", *words, "--device", "cpu", "--quiet", "--out", folder])
        if code != 0:
            return {"test_acc": None, "error": code}
        (summary,) = Path(folder).glob("*/*/summary.json")
        record = json.loads(summary.read_text())
    return {"test_acc": record["test"]["test_acc"], "stop": record["stop"]["kind"]}


def recommended(seed: int) -> dict[str, object]:
    """find-lr's command for ``seed``, trained as printed."""
    with tempfile.TemporaryDirectory(prefix="lrlab-article-") as folder:
        words = ["find-lr", *SETTING, "--seed", str(seed), "--device", "cpu", "--quiet", "--format", "json"]
        code, out = cli([*words, "--out", folder])
    if code != 0:
        raise RuntimeError(f"lrlab find-lr exited {code} for seed {seed}")
    report = json.loads(out)
    words = shlex.split(report["command"])[2:]
    result = train(words)
    lr = f"{report['suggested_lr']:.3g}"
    other = [*words[: words.index("--lr")], "--lr", lr, "--schedule", report["schedule"]]
    return result | {
        "lr": report["suggested_lr"],
        "confidence": report["confidence"],
        "command": report["command"].split("--lr ", 1)[1],
        "warmup + cosine": train(other),
    }


def baseline(name: str, seed: int) -> dict[str, object]:
    return train([*SETTING, "--seed", str(seed), *BASELINES[name]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-baselines", action="store_true", help="only find-lr's trainings")
    args = parser.parse_args()
    began = time.perf_counter()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"the article's setting at full length, {datetime.date.today()}, {machine}")
    with futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        ours = {s: pool.submit(recommended, s) for s in range(args.seeds)}
        names = [] if args.no_baselines else list(BASELINES)
        others = {(n, s): pool.submit(baseline, n, s) for n in names for s in range(args.seeds)}
        rows = {"find-lr's command": [ours[s].result() for s in range(args.seeds)]}
        rows["its warmup + cosine"] = [found["warmup + cosine"] for found in rows["find-lr's command"]]
        rows |= {n: [others[n, s].result() for s in range(args.seeds)] for n in names}
    for s, found in enumerate(rows["find-lr's command"]):
        confidence = found["confidence"]
        print(f"  seed {s}: suggested {found['lr']:.3g} (confidence {confidence}); --lr {found['command']}")
    print(f"\n{'training':<20} {'test accuracy per seed':<44} {'median':>7} {'mean':>7} {'diverged':>9}")
    for name, results in rows.items():
        scores = [r["test_acc"] for r in results]
        known = [s for s in scores if isinstance(s, float)]
        failed = sum(
            1
            for r in results
            if r.get("stop") == "diverged" or not isinstance(r["test_acc"], float) or r["test_acc"] < 0.2
        )
        shown = " ".join("n/a" if s is None else f"{s:.4f}" for s in scores)
        print(
            f"{name:<20} {shown:<44} {statistics.median(known):>7.4f} "
            f"{statistics.fmean(known):>7.4f} {failed:>9}"
        )
    print(f"\nwall time {time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
