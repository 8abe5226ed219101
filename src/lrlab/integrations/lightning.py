"""lrlab's LR range test as a Lightning callback: :class:`LRRangeTest`.

At the start of ``fit`` (``on_fit_start``, where Lightning's own ``LearningRateFinder`` runs) it
sweeps the LR of the module's own optimizer (from ``configure_optimizers``) over the module's own
training loader (the trainer's, or the datamodule's), with the loss of ``training_step``; it puts
the weights, buffers, optimizer state, train/eval modes and random generators back bit for bit,
then sets the suggested LR — on the module's ``lr``/``learning_rate`` attribute (as Lightning's
tuner does), the optimizer's param groups and its schedulers' base LRs — or only reports it.

>>> from lrlab.integrations.lightning import LRRangeTest
>>> LRRangeTest(update_lr=False).result is None
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.parsing import lightning_hasattr, lightning_setattr
from torch import Tensor, nn

from lrlab.errors import LrlabError, invalid
from lrlab.finder.find import find_lr
from lrlab.finder.outcome import RangeTestResult
from lrlab.finder.recommend import Recommendation, recommend
from lrlab.finder.sweep import Sweep, SweepConfig, default_sweep
from lrlab.integrations._common import (
    SHORTEST,
    apply_lr,
    at_base_lrs,
    check_steps,
    inner_optimizer,
    kept_grads,
    save_plot,
    settled,
    single_process,
    sized,
)

LR_ATTRIBUTES = ("lr", "learning_rate")


class LRRangeTest(Callback):
    """Run lrlab's LR range test when ``fit`` starts, and set (or only report) the LR it suggests.

    Args:
        sweep: the LRs to try (default: by optimizer family, see
            :func:`~lrlab.finder.sweep.default_sweep`).
        config: the sweep's settings (default: the trainer's gradient accumulation, norm clipping
            and bf16 precision; the device is always the module's).
        update_lr: set the suggested LR (``False``: only store the result).
        attr_name: the module attribute (or ``hparams`` key) that holds the LR; default ``lr`` or
            ``learning_rate`` when the module has one (none is needed: the optimizer is set).
        plot: write the range test's figure here (``.png``, ``.svg``, ``.pdf``).
        steps: the training's updates for :attr:`recommendation` (default: the trainer's
            ``estimated_stepping_batches``).

    After ``fit`` starts: :attr:`result` (the :class:`~lrlab.finder.RangeTestResult`),
    :attr:`recommendation` (LR, range and schedule specs; ``None`` without a finite number of
    steps) and :attr:`lr` (the LR set, or ``None`` when none was: ``update_lr=False`` or no
    reliable suggestion, see ``result.suggestion.reason``).
    """

    def __init__(
        self,
        *,
        sweep: Sweep | None = None,
        config: SweepConfig | None = None,
        update_lr: bool = True,
        attr_name: str = "",
        plot: str | Path | None = None,
        steps: int | None = None,
    ) -> None:
        if sweep is not None and not isinstance(sweep, Sweep):
            raise invalid("sweep", "a lrlab Sweep (or None)", sweep)
        if config is not None and not isinstance(config, SweepConfig):
            raise invalid("config", "a lrlab SweepConfig (or None)", config)
        if steps is not None:
            check_steps(steps)
        self.sweep, self.config, self.update_lr = sweep, config, bool(update_lr)
        self.attr_name, self.plot, self.steps = attr_name, plot, steps
        self.result: RangeTestResult | None = None
        self.recommendation: Recommendation | None = None
        self.lr: float | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Run the test before the first training batch."""
        self.range_test(trainer, pl_module)

    def range_test(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> RangeTestResult:
        """Run the test on ``pl_module`` in ``trainer`` now (``on_fit_start`` calls it; call it
        from another hook to test later, e.g. before fine-tuning's second stage)."""
        single_process(trainer.world_size, "Trainer")
        if not pl_module.automatic_optimization:
            raise LrlabError(
                "LRRangeTest needs automatic optimization: with automatic_optimization=False "
                "training_step steps the optimizer itself; run lrlab.find_lr on your own loop instead."
            )
        attribute = self._attribute(pl_module) if self.update_lr else None
        optimizer = self._optimizer(trainer)
        loader = self._loader(trainer)
        ladder = self.sweep or default_sweep(optimizer)
        config = settled(self.config or _trainer_config(trainer), pl_module.device, "Trainer")
        epoch = None if sized(loader) else ladder.steps * config.accumulation
        self.result = self.recommendation = self.lr = None
        with at_base_lrs(optimizer), kept_grads(pl_module), _quiet(pl_module):
            result = find_lr(
                pl_module,
                loader,
                optimizer,
                loss_fn=_step_loss(pl_module),
                steps_per_epoch=epoch,
                sweep=ladder,
                config=config,
            )
        self.result = result
        steps = self.steps or _finite_steps(trainer.estimated_stepping_batches)
        self.recommendation = recommend(result, steps) if steps is not None else None
        if self.plot is not None:
            save_plot(result, self.plot)
        if self.update_lr and result.suggested_lr is not None:
            self.lr = result.suggested_lr
            if attribute is not None:
                lightning_setattr(pl_module, attribute, self.lr)
            schedulers = [scheduled.scheduler for scheduled in trainer.lr_scheduler_configs]
            apply_lr(optimizer, self.lr, schedulers)
        return result

    def _attribute(self, module: pl.LightningModule) -> str | None:
        if self.attr_name:
            if not lightning_hasattr(module, self.attr_name):
                raise invalid(
                    "attr_name",
                    "an attribute of the module or a key of its hparams",
                    self.attr_name,
                    "Leave it empty to set only the optimizer's LR.",
                )
            return self.attr_name
        return next((name for name in LR_ATTRIBUTES if lightning_hasattr(module, name)), None)

    @staticmethod
    def _optimizer(trainer: pl.Trainer) -> Any:
        optimizers = trainer.optimizers
        if len(optimizers) != 1:
            raise LrlabError(
                f"LRRangeTest sweeps one optimizer, but configure_optimizers gave {len(optimizers)}; "
                "return one optimizer (with or without a scheduler)."
            )
        return inner_optimizer(optimizers[0], "configure_optimizers")

    @staticmethod
    def _loader(trainer: pl.Trainer) -> Iterable[Any]:
        trainer.fit_loop.setup_data()  # what the fit loop does first; it then reuses the loader
        loader = trainer.train_dataloader
        if loader is None:
            raise LrlabError(
                "the trainer has no training loader; give train_dataloaders to fit, a "
                "train_dataloader() method, or a datamodule."
            )
        if isinstance(loader, Mapping | Sequence):
            raise LrlabError(
                f"LRRangeTest sweeps on one training loader, got a {type(loader).__name__} of "
                f"{len(loader)}; return one DataLoader from train_dataloader()."
            )
        return loader  # type: ignore[no-any-return]


def _trainer_config(trainer: pl.Trainer) -> SweepConfig:
    """The sweep's settings as the trainer trains: accumulation, norm clipping, bf16 autocast."""
    clip = trainer.gradient_clip_val
    by_norm = trainer.gradient_clip_algorithm in (None, "norm")
    return SweepConfig(
        accumulation=trainer.accumulate_grad_batches,
        grad_clip=float(clip) if clip and by_norm else None,
        amp=str(trainer.precision).startswith("bf16"),
    )


def _step_loss(module: pl.LightningModule) -> Any:
    """``training_step``'s loss: the tensor it returns, or its ``"loss"``."""

    def loss(model: nn.Module, batch: Any) -> Tensor:
        batch = module.on_after_batch_transfer(module.on_before_batch_transfer(batch, 0), 0)
        out = module.training_step(batch, 0)
        value = out.get("loss") if isinstance(out, Mapping) else out
        if not isinstance(value, Tensor):
            raise LrlabError(
                f"training_step returned {type(out).__name__}, not a loss; the range test needs "
                "the loss tensor (or a dict with 'loss') for every batch."
            )
        return value

    return loss


@contextmanager
def _quiet(module: pl.LightningModule) -> Iterator[None]:
    """``self.log`` and ``self.log_dict`` do nothing inside the block: the sweep's steps are not
    training steps, and Lightning refuses logging from ``on_fit_start``. The instance attributes
    shadow the methods only for the block."""

    def drop(*args: Any, **kwargs: Any) -> None:
        return None

    module.log = drop  # type: ignore[method-assign]
    module.log_dict = drop  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.log, module.log_dict


def _finite_steps(estimate: float) -> int | None:
    return int(estimate) if math.isfinite(estimate) and estimate >= SHORTEST else None
