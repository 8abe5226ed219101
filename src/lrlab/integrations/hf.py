"""lrlab's LR range test on a Hugging Face ``transformers.Trainer``: :func:`find_lr` and
:class:`LRRangeTestCallback`.

Both sweep the LR of the trainer's own optimizer (``create_optimizer()``) on its own training
loader (``get_train_dataloader()``) with its own loss (``compute_loss``), as the trainer trains
(gradient accumulation, ``max_grad_norm`` clipping, bf16, seed), and put the weights, buffers,
optimizer state, train/eval modes and random generators back bit for bit.

:func:`find_lr` returns an :class:`HFRecommendation`: the LR, the warmup, and the schedule as
``TrainingArguments`` take it (``lr_scheduler_type`` and ``lr_scheduler_kwargs``) when a Hugging
Face scheduler type runs it, else as a spec for :class:`~lrlab.ScheduledLR`. The callback runs the
same test at ``on_train_begin`` and sets the LR of the optimizer and scheduler that are about to
train.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import SchedulerType

from lrlab.errors import LrlabError, invalid
from lrlab.finder.find import find_lr as range_test
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
    model_device,
    save_plot,
    settled,
    single_process,
    sized,
)
from lrlab.schedules import Schedule, parse
from lrlab.schedules.dialects import from_hf
from lrlab.torch_bridge import ScheduledLR

HF_TYPE = "cosine_with_min_lr"  # warmup, then a half cosine to a floor: the recommended shape
MATCH = 1e-9  # the largest difference, per step after the warmup, that still counts as the same


@dataclass(frozen=True)
class HFRecommendation:
    """What to train a ``Trainer`` with.

    ``lr`` (``None`` with ``reason`` when the test gave no reliable suggestion) and its
    ``confidence``; ``warmup_steps`` and ``steps`` (the training's updates); the schedule as
    ``lr_scheduler_type`` + ``lr_scheduler_kwargs`` when a Hugging Face type runs it (``None``
    otherwise); ``schedule``, the lrlab spec of the schedule to train with — exactly what that
    Hugging Face type does (its warmup starts at 0, as all of theirs do), or, without a type, the
    one for :meth:`scheduler`. ``recommendation`` and ``result`` are lrlab's own.
    """

    lr: float | None
    confidence: float
    reason: str
    warmup_steps: int | None
    lr_scheduler_type: str | None
    schedule: str | None
    steps: int
    recommendation: Recommendation
    result: RangeTestResult
    lr_scheduler_kwargs: Mapping[str, float] = field(default_factory=dict)

    def training_arguments(self) -> dict[str, Any]:
        """``TrainingArguments`` keywords: ``learning_rate``, ``warmup_steps``,
        ``lr_scheduler_type``, ``lr_scheduler_kwargs`` (``max_steps`` is yours to keep)."""
        lr = self._lr()
        if self.lr_scheduler_type is None:
            raise LrlabError(
                f"no Hugging Face scheduler type runs the schedule {self.schedule!r}; pass "
                "optimizers=(optimizer, recommendation.scheduler(optimizer)) to the Trainer instead."
            )
        return {
            "learning_rate": lr,
            "warmup_steps": self.warmup_steps,
            "lr_scheduler_type": self.lr_scheduler_type,
            "lr_scheduler_kwargs": dict(self.lr_scheduler_kwargs),
        }

    def scheduler(self, optimizer: torch.optim.Optimizer) -> ScheduledLR:
        """A :class:`~lrlab.ScheduledLR` running :attr:`schedule` on ``optimizer``, whose param
        groups get the recommended LR first (keeping their ratios to its base LR)."""
        lr, spec = self._lr(), self.schedule
        if spec is None:
            raise LrlabError(f"the range test recommends no schedule: {self.reason}")
        apply_lr(optimizer, lr)
        return ScheduledLR(optimizer, spec)

    def _lr(self) -> float:
        if self.lr is None:
            raise LrlabError(
                f"the range test gave no reliable LR ({self.reason}); keep your own, or rerun "
                "with a wider sweep."
            )
        return self.lr


def find_lr(
    trainer: Trainer,
    *,
    sweep: Sweep | None = None,
    config: SweepConfig | None = None,
    steps: int | None = None,
) -> HFRecommendation:
    """Run lrlab's LR range test on ``trainer`` and recommend an LR and schedule for ``steps``
    updates (default: the ``max_steps`` the trainer would run).

    The optimizer is the trainer's (made with ``create_optimizer()`` when it has none yet; then
    dropped again, so ``train()`` builds it with the arguments you give next). ``config``
    defaults to the trainer's accumulation, ``max_grad_norm``, ``bf16`` and ``seed``; the device
    is always the model's.
    """
    _check_trainer(trainer)
    created = trainer.optimizer is None
    try:
        optimizer = inner_optimizer(trainer.create_optimizer(), "Trainer")
        loader = trainer.get_train_dataloader()
        total = check_steps(steps) if steps is not None else _training_steps(trainer.args, loader)
        result = _sweep(trainer, optimizer, loader, sweep, config)
    finally:
        if created:
            trainer.optimizer = None
    return hf_recommendation(result, total)


class LRRangeTestCallback(TrainerCallback):
    """The range test when ``trainer.train()`` begins, on the optimizer about to train.

    ``trainer.add_callback(LRRangeTestCallback(trainer))``. With ``update_lr`` it sets the
    suggested LR as the optimizer's base LR and its scheduler's (the scheduler's shape and warmup
    stay as ``TrainingArguments`` chose them). Afterwards :attr:`result` holds the range test,
    :attr:`recommendation` the full recommendation for the run's ``max_steps`` (``None`` under 4
    steps) and :attr:`lr` the LR set (``None``: none was, see ``result.suggestion.reason``).
    """

    def __init__(
        self,
        trainer: Trainer,
        *,
        sweep: Sweep | None = None,
        config: SweepConfig | None = None,
        update_lr: bool = True,
        plot: str | Path | None = None,
    ) -> None:
        if not isinstance(trainer, Trainer):
            raise invalid("trainer", "a transformers.Trainer", type(trainer).__name__)
        self.trainer, self.sweep, self.config = trainer, sweep, config
        self.update_lr, self.plot = bool(update_lr), plot
        self.result: RangeTestResult | None = None
        self.recommendation: HFRecommendation | None = None
        self.lr: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Run the test before the first update and set the LR."""
        trainer = self.trainer
        _check_trainer(trainer)
        optimizer = inner_optimizer(trainer.optimizer, "Trainer")
        result = _sweep(trainer, optimizer, trainer.get_train_dataloader(), self.sweep, self.config)
        short = state.max_steps < SHORTEST
        self.recommendation = None if short else hf_recommendation(result, state.max_steps)
        self.result, self.lr = result, None
        if self.plot is not None:
            save_plot(result, self.plot)
        if self.update_lr and result.suggested_lr is not None:
            self.lr = result.suggested_lr
            apply_lr(optimizer, self.lr, [trainer.lr_scheduler] if trainer.lr_scheduler else [])


def hf_recommendation(result: RangeTestResult, steps: int) -> HFRecommendation:
    """lrlab's :func:`~lrlab.finder.recommend` for ``steps`` updates, with its schedule as a
    Hugging Face scheduler type where one runs it.

    The recommended schedule is a warmup, then a cosine to a floor; ``cosine_with_min_lr`` runs
    the same cosine (checked step by step, to ``1e-9``, after the warmup) after a warmup from 0
    instead of lrlab's 0.1 × the LR.
    """
    advice = recommend(result, steps)
    if advice.lr is None or advice.schedule is None:
        return HFRecommendation(
            None, 0.0, advice.reason, None, None, None, steps, advice, result, lr_scheduler_kwargs={}
        )
    ours = parse(advice.schedule)
    warmup = next(s for s in range(steps + 1) if ours(s) >= 1 - MATCH)
    floor = float(f"{ours(steps):.12g}")
    kwargs = {"min_lr_rate": floor}
    theirs = from_hf(HF_TYPE, warmup, steps, **kwargs)
    if HF_TYPE in {kind.value for kind in SchedulerType} and _same(ours, theirs, warmup, steps):
        kind, spec = HF_TYPE, str(theirs)
    else:
        kind, spec, kwargs = None, advice.schedule, {}
    return HFRecommendation(
        advice.lr, advice.confidence, advice.reason, warmup, kind, spec, steps, advice, result, kwargs
    )


def _same(ours: Schedule, theirs: Schedule, start: int, end: int) -> bool:
    return all(abs(ours(s) - theirs(s)) <= MATCH for s in range(start, end + 1))


def _check_trainer(trainer: Trainer) -> None:
    if not isinstance(trainer, Trainer):
        raise invalid("trainer", "a transformers.Trainer", type(trainer).__name__)
    single_process(trainer.args.world_size, "Trainer")
    if trainer.train_dataset is None:
        raise LrlabError(
            "the trainer has no train_dataset, so there is nothing to sweep on; pass "
            "train_dataset=… to Trainer."
        )


def _sweep(
    trainer: Trainer,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Any],
    sweep: Sweep | None,
    config: SweepConfig | None,
) -> RangeTestResult:
    """The range test on ``trainer``'s model and loss, at the groups' base LRs."""
    model = trainer.model
    if not isinstance(model, nn.Module):
        raise invalid("trainer.model", "a torch nn.Module", type(model).__name__)
    ladder = sweep or default_sweep(optimizer)
    settings = settled(config or _trainer_config(trainer.args), model_device(model), "Trainer")
    epoch = None if sized(loader) else ladder.steps * settings.accumulation

    def loss(network: nn.Module, batch: Any) -> Tensor:
        # compute_loss may pop "labels" from the dict it is given: it gets a copy
        value = trainer.compute_loss(network, dict(batch))
        if not isinstance(value, Tensor):
            raise invalid("Trainer.compute_loss's result", "a loss tensor", type(value).__name__)
        return value

    try:
        with at_base_lrs(optimizer), kept_grads(model):
            return range_test(
                model, loader, optimizer, loss_fn=loss, steps_per_epoch=epoch, sweep=ladder, config=settings
            )
    finally:
        end = getattr(loader, "end", None)
        if callable(end):  # accelerate's loader stays registered as active when left mid-epoch
            end()


def _trainer_config(args: TrainingArguments) -> SweepConfig:
    """The sweep's settings as the trainer trains."""
    clip = float(args.max_grad_norm or 0.0)
    return SweepConfig(
        seed=int(args.seed),
        accumulation=int(args.gradient_accumulation_steps),
        grad_clip=clip if clip > 0 else None,
        amp=bool(args.bf16),
    )


def _training_steps(args: TrainingArguments, loader: Iterable[Any]) -> int:
    """The updates ``train()`` would run: ``max_steps``, else the epochs' updates."""
    if args.max_steps > 0:
        return check_steps(int(args.max_steps), "max_steps", "Pass steps=N, the updates to plan for.")
    if not sized(loader):
        raise LrlabError(
            "the training data has no length and max_steps is not set, so the training's length "
            "is unknown; pass steps=N (or set max_steps)."
        )
    per_epoch = max(len(loader) // args.gradient_accumulation_steps, 1)  # type: ignore[arg-type]
    updates = math.ceil(args.num_train_epochs * per_epoch)
    return check_steps(updates, "the training's updates", "Pass steps=N, the updates to plan for.")
