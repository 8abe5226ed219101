"""Training throughput of ``fit`` on a GPU: LeNet (1×28×28) and the CIFAR CNN (3×32×32), fp32 vs
bf16 autocast, with and without ``torch.compile``, in samples per second.

Each configuration trains through :func:`lrlab.train.fit` (the loop every command uses) on
random in-memory data of the model's shape (the GPU's speed does not depend on the pixels), for
``--epochs`` epochs; the first epoch pays CUDA's start and the compilation, so the figure is the
median of the later epochs' ``samples_per_s`` (training steps only, as ``metrics.csv`` records
it). The ratios to fp32 without compile are printed side by side.

Usage (on a machine with CUDA; ``--device cpu`` runs the same table slowly, for a smoke test)::

    .venv/bin/python bench/gpu_throughput.py [--samples 50000] [--batch-size 256] [--epochs 4]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys

import torch

from lrlab.data import Data
from lrlab.models import build_model
from lrlab.optim import build_optimizer
from lrlab.train import FitConfig, fit

MODELS = {"lenet": (1, 28, 28), "cifar-cnn": (3, 32, 32)}
MODES = [(False, False), (True, False), (False, True), (True, True)]  # (bf16 autocast, compile)


def random_data(shape: tuple[int, ...], samples: int) -> Data:
    """Random images and labels of ``shape`` (10 classes), in memory."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, *shape, generator=generator)
    y = torch.randint(0, 10, (samples,), generator=generator)
    return Data(
        name="random",
        x_train=x,
        y_train=y,
        x_test=x[:1000],
        y_test=y[:1000],
        task="classification",
        num_classes=10,
    )


def throughput(model_name: str, data: Data, *, amp: bool, compile: bool, args: argparse.Namespace) -> float:
    """Median training samples/s of the epochs after the first."""
    torch.manual_seed(0)
    model = build_model(model_name, tuple(data.x_train.shape[1:]), 10)
    optimizer = build_optimizer(model, "sgd(momentum=0.9)", 0.01)
    config = FitConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        amp=amp,
        compile=compile,
        eval_batch_size=4096,
        quiet=True,
    )
    result = fit(model, data, optimizer, "constant()", config=config)
    return statistics.median(row["samples_per_s"] for row in result.history[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=50_000, help="training samples (default 50000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration (>= 2)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke test")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench/gpu_throughput.py: no CUDA device here; pass --device cpu for a smoke test.")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    print(
        f"{datetime.date.today()} · {name} · torch {torch.__version__} · "
        f"python {platform.python_version()} · {args.samples} samples, batch {args.batch_size}, "
        f"median of epochs 2–{args.epochs}\n"
    )
    print(f"{'model':<10} {'autocast':<9} {'compile':<8} {'samples/s':>12} {'× fp32':>7}")
    for model_name, shape in MODELS.items():
        data = random_data(shape, args.samples)
        baseline = None
        for amp, compile in MODES:
            rate = throughput(model_name, data, amp=amp, compile=compile, args=args)
            baseline = baseline or rate
            mode, compiled = "bf16" if amp else "fp32", "yes" if compile else "no"
            print(f"{model_name:<10} {mode:<9} {compiled:<8} {rate:>12,.0f} {rate / baseline:>6.2f}×")


if __name__ == "__main__":
    main()
