"""The training loop (``fit``) and its callbacks."""

from lrlab.train.callbacks import Callback, Rollback
from lrlab.train.checkpoint import Checkpoint
from lrlab.train.divergence import DivergenceGuard
from lrlab.train.early_stopping import EarlyStopping
from lrlab.train.logging import MetricsCsv, TensorBoardLogger
from lrlab.train.loop import FitResult, fit, seed_everything
from lrlab.train.monitor import Monitor
from lrlab.train.plateau import ReduceLROnPlateau
from lrlab.train.scores import evaluate
from lrlab.train.state import FitConfig, Run, TrainState
from lrlab.train.step import resolve_device

__all__ = [
    "Callback",
    "Checkpoint",
    "DivergenceGuard",
    "EarlyStopping",
    "FitConfig",
    "FitResult",
    "MetricsCsv",
    "Monitor",
    "ReduceLROnPlateau",
    "Rollback",
    "Run",
    "TensorBoardLogger",
    "TrainState",
    "evaluate",
    "fit",
    "resolve_device",
    "seed_everything",
]
