"""Presets: shipped in the package, identical to ``examples/``, valid, and every variant trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrlab.compare import compare, expand
from lrlab.config import apply_overrides, load_experiment
from lrlab.data import load_dataset
from lrlab.errors import LrlabError
from lrlab.presets import DEFAULT_PRESET, load_preset, preset_names, preset_text

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [
    "cifar-rmsprop",
    "fashion-schedules",
    "optimizers",
    "quickstart",
    "shakespeare-schedules",
    "warmup-cosine-es",
]


def test_the_presets_are_shipped_and_copied_to_examples_unchanged() -> None:
    assert preset_names() == PRESETS and DEFAULT_PRESET == "quickstart"
    assert sorted(path.stem for path in (ROOT / "examples").glob("*.toml")) == PRESETS
    for name in PRESETS:
        assert (ROOT / "examples" / f"{name}.toml").read_text(encoding="utf-8") == preset_text(name)
        assert load_experiment(ROOT / "examples" / f"{name}.toml") == load_preset(name)


def test_unknown_presets_suggest_the_closest() -> None:
    with pytest.raises(LrlabError, match=r"unknown preset 'optimiser'; did you mean 'optimizers'\?"):
        load_preset("optimiser")


def test_the_presets_say_what_the_issue_asks() -> None:
    quick = load_preset("quickstart")
    assert quick.task.dataset == "digits" and [v.schedule for v in quick.variant] == [
        "constant()",
        "inverse_sqrt(offset=1)",
        "multistep(milestones=[10, 20], gamma=0.5)",
        "warmup(steps=3, start=0.1) >> cosine(steps=27, end=0.01)",
    ]
    fashion = {spec.variant: spec.experiment for spec in expand(load_preset("fashion-schedules"))}
    shared = fashion["constant"]
    assert (shared.task.model, shared.optimizer.lr, shared.train.batch_size, shared.train.epochs) == (
        "lenet",
        0.3,
        128,
        30,
    )
    assert fashion["sqrt-decay"].optimizer.lr == 0.1  # lr_t = 0.1 · (t + 1)^-0.5
    cosine = fashion["cosine"]
    assert cosine.schedule == "cosine(steps=20, end=0.0333)"
    cifar = expand(load_preset("cifar-rmsprop"))[0].experiment
    assert cifar.optimizer.name == "rmsprop(alpha=0.9, eps=1e-08)" and cifar.optimizer.lr == 1e-3
    assert (
        cifar.early_stopping.enabled and cifar.early_stopping.patience == 5 and cifar.task.val_fraction == 0.2
    )
    names = [spec.experiment.optimizer.name for spec in expand(load_preset("optimizers"))]
    assert [name.partition("(")[0] for name in names] == [
        "sgd",
        "sgd",
        "sgd",
        "rmsprop",
        "adam",
        "adamw",
        "adamw",
    ]
    shakespeare = {spec.variant: spec.experiment for spec in expand(load_preset("shakespeare-schedules"))}
    assert shakespeare["wsd-1-sqrt"].schedule.endswith('shape="1-sqrt", end=0.0)')
    assert shakespeare["prodigy"].optimizer.lr == 1.0 and shakespeare["cosine"].train.steps == 800
    assert shakespeare["schedulefree-adamw"].optimizer.name.startswith("schedulefree_adamw(")
    warm = expand(load_preset("warmup-cosine-es"))[0].experiment
    assert warm.schedule.startswith("warmup(steps=5") and warm.early_stopping.restore_best_weights


@pytest.mark.parametrize("name", PRESETS)
def test_every_variant_of_every_preset_trains(name: str, tmp_path: Path) -> None:
    # the presets' own datasets are downloads or files; their schedules and optimizers train on
    # digits here, for 2 epochs (in updates, for a preset whose budget is in updates)
    preset = load_preset(name)
    samples = len(load_dataset("digits", val_fraction=preset.task.val_fraction).x_train)
    steps = 2 * -(-samples // preset.train.batch_size) if preset.train.steps else None
    small = apply_overrides(preset, dataset="digits", model="mlp(widths=[8])", epochs=2, seeds=1, steps=steps)
    result = compare(small, out=tmp_path, report=False)
    assert [run.summary["epochs"] for run in result.runs] == [2] * len(small.variant)
