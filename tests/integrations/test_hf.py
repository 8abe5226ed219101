"""The Hugging Face helper and callback against the real ``transformers.Trainer``: a two-layer
GPT-2 built from a config (no download) on character tokens of Tiny Shakespeare, on the CPU."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.utils.data import Dataset

transformers = pytest.importorskip("transformers")

from lrlab import LrlabError  # noqa: E402
from lrlab.finder import Sweep  # noqa: E402
from lrlab.integrations._common import inner_optimizer, inner_scheduler  # noqa: E402
from lrlab.integrations.hf import LRRangeTestCallback, find_lr  # noqa: E402
from lrlab.schedules import parse  # noqa: E402

TEXT = Path(__file__).parents[2].parent / "shared/datasets/tinyshakespeare/input.txt"
BLOCK = 64
SWEEP = Sweep(1e-5, 1.0, steps=30)

pytestmark = pytest.mark.skipif(
    not TEXT.exists(), reason=f"Tiny Shakespeare is not at {TEXT} (the shared datasets folder)"
)


class Characters(Dataset[dict[str, Tensor]]):
    """Blocks of ``BLOCK`` character ids; the model shifts the labels itself."""

    def __init__(self, ids: Tensor) -> None:
        self.blocks = ids[: len(ids) // BLOCK * BLOCK].view(-1, BLOCK)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        block = self.blocks[index]
        return {"input_ids": block, "labels": block}


@pytest.fixture(scope="module")
def corpus() -> tuple[Characters, int]:
    text = TEXT.read_text(encoding="utf-8")
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([index[c] for c in text[: BLOCK * 8 * 12]], dtype=torch.long)
    return Characters(ids), len(vocabulary)


def _trainer(
    corpus: tuple[Characters, int], tmp_path: Path, max_steps: int = 4, train: bool = True, **extra: Any
) -> Any:
    dataset, vocabulary = corpus
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=vocabulary, n_positions=BLOCK)
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to=[],
        per_device_train_batch_size=8,
        max_steps=max_steps,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        **extra,
    )
    return transformers.Trainer(model=model, args=args, train_dataset=dataset if train else None)


def _snapshot(trainer: Any) -> dict[str, Any]:
    optimizer = inner_optimizer(trainer.optimizer, "Trainer")
    return {
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "training": [m.training for m in trainer.model.modules()],
        "grads": [None if p.grad is None else p.grad.clone() for p in trainer.model.parameters()],
        "rng": torch.get_rng_state(),
    }


def _same(a: Any, b: Any) -> bool:
    """Equal nested states, tensors compared bit for bit."""
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_find_lr_recommends_hf_arguments_and_restores_bit_for_bit(
    corpus: tuple[Characters, int], tmp_path: Path
) -> None:
    trainer = _trainer(corpus, tmp_path)
    trainer.train()  # four AdamW steps: the optimizer has moments to restore
    before = _snapshot(trainer)
    assert before["optimizer"]["state"], "the optimizer should hold AdamW moments"
    advice = find_lr(trainer, sweep=SWEEP, steps=200)
    after = _snapshot(trainer)
    assert _same(before, after)

    assert len(advice.result.lrs) >= 5 and advice.steps == 200
    if advice.lr is None:  # an honest "no reliable suggestion", with its reason
        assert advice.reason and advice.lr_scheduler_type is None
        with pytest.raises(LrlabError, match="no reliable LR"):
            advice.training_arguments()
        return
    assert math.isfinite(advice.lr) and SWEEP.start <= advice.lr <= SWEEP.end
    arguments = advice.training_arguments()
    assert arguments == {
        "learning_rate": advice.lr,
        "warmup_steps": 10,  # 5% of 200
        "lr_scheduler_type": "cosine_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": 0.01},
    }
    # the reported spec is what Hugging Face's own scheduler does, step by step
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=advice.lr)
    hf = transformers.get_scheduler(
        arguments["lr_scheduler_type"],
        probe,
        num_warmup_steps=arguments["warmup_steps"],
        num_training_steps=advice.steps,
        scheduler_specific_kwargs=arguments["lr_scheduler_kwargs"],
    )
    schedule = parse(advice.schedule or "")
    for step in range(advice.steps):
        assert math.isclose(hf.get_last_lr()[0], advice.lr * schedule(step), rel_tol=1e-9, abs_tol=1e-15)
        probe.step()
        hf.step()
    # and after the warmup it is lrlab's recommended schedule
    ours = parse(advice.recommendation.schedule or "")
    assert all(abs(ours(s) - schedule(s)) <= 1e-9 for s in range(10, 201))


def test_find_lr_on_a_fresh_trainer_leaves_no_optimizer_behind(
    corpus: tuple[Characters, int], tmp_path: Path
) -> None:
    trainer = _trainer(corpus, tmp_path)
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    advice = find_lr(trainer, sweep=Sweep(1e-5, 1.0, steps=10))
    assert trainer.optimizer is None  # train() builds it from the arguments given next
    assert _same(weights, trainer.model.state_dict())
    assert advice.steps == 4  # the trainer's max_steps


def test_the_callback_sets_the_lr_when_training_begins(
    corpus: tuple[Characters, int], tmp_path: Path
) -> None:
    trainer = _trainer(corpus, tmp_path, warmup_steps=1)
    plot = tmp_path / "lr.svg"
    callback = LRRangeTestCallback(trainer, sweep=SWEEP, plot=plot)
    trainer.add_callback(callback)
    trainer.train()

    advice = callback.recommendation
    assert advice is not None and plot.exists()
    assert callback.lr == advice.result.suggested_lr
    if callback.lr is None:
        assert advice.reason
        return
    scheduler = inner_scheduler(trainer.lr_scheduler)
    assert scheduler.base_lrs == [pytest.approx(callback.lr)] * len(scheduler.base_lrs)
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged[:2] == [0.0, pytest.approx(callback.lr)]  # Hugging Face's warmup, to the found LR


def test_the_callback_without_update_trains_exactly_as_without_it(
    corpus: tuple[Characters, int], tmp_path: Path
) -> None:
    def train(with_test: bool) -> dict[str, Tensor]:
        trainer = _trainer(corpus, tmp_path)
        if with_test:
            callback = LRRangeTestCallback(trainer, sweep=Sweep(1e-5, 1.0, steps=10), update_lr=False)
            trainer.add_callback(callback)
        trainer.train()
        if with_test:
            assert callback.lr is None and callback.recommendation is not None
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}

    assert _same(train(True), train(False))


def test_bad_input_is_refused_before_any_work(corpus: tuple[Characters, int], tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match="no train_dataset"):
        find_lr(_trainer(corpus, tmp_path, train=False))
    short = _trainer(corpus, tmp_path, max_steps=3)
    with pytest.raises(LrlabError, match=r"max_steps must be an integer >= 4.*Pass steps=N"):
        find_lr(short)
    assert short.optimizer is None
    with pytest.raises(LrlabError, match="steps must be an integer >= 4"):
        find_lr(_trainer(corpus, tmp_path), steps=1)
