"""Experiment files: defaults, one-line errors that name the key, TOML round trips, overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.config import Experiment, apply_overrides, load_experiment, to_toml, validate
from lrlab.errors import LrlabError


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(LrlabError) as caught:
        load_experiment(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_empty_file_is_the_default_experiment_named_after_the_file(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, "", "my sweep.toml"))
    assert experiment == Experiment(name="my-sweep")
    assert experiment.task.dataset == "digits"
    assert experiment.train.epochs == 10
    assert experiment.divergence.enabled and not experiment.early_stopping.enabled


def test_a_full_file_is_read(tmp_path: Path) -> None:
    text = """
        name = "fashion"
        schedule = "warmup(steps=5, start=0.1) >> cosine(steps=95)"
        [task]
        dataset = "fashion-mnist"
        model = "lenet"
        val_fraction = 0.2
        [train]
        epochs = 30
        grad_clip = 1
        [optimizer]
        name = "sgd(momentum=0.9)"
        lr = 0.3
        lr_multipliers = { head = 10 }
        [early_stopping]
        enabled = true
        monitor = "val_acc"
        patience = 3
        [finetune]
        init_from = "base.pt"
        freeze = ["features.*"]
    """
    experiment = load_experiment(write(tmp_path, text))
    assert experiment.name == "fashion"
    assert experiment.train.grad_clip == 1.0 and experiment.train.batch_size == 128
    assert experiment.optimizer.lr_multipliers == {"head": 10.0}
    assert experiment.early_stopping.monitor == "val_acc"
    assert experiment.finetune.freeze == ["features.*"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[train]\nepoch = 3",
            "unknown key 'train.epoch'; did you mean 'epochs'? Valid keys of [train]: amp,",
        ),
        ("[trian]\nepochs = 3", "unknown key 'trian'; did you mean 'train'? Valid keys of the top level:"),
        ("shedule = 'constant()'", "unknown key 'shedule'; did you mean 'schedule'?"),
        ("[optimizer]\nmomentum = 0.9", "unknown key 'optimizer.momentum'. Valid keys of [optimizer]: "),
        ("[early_stopping]\npatients = 2", "did you mean 'patience'?"),
    ],
)
def test_unknown_keys_name_the_key_and_the_valid_ones(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[train]\nepochs = 0", "train.epochs must be an integer >= 1, got train.epochs=0."),
        ("[train]\nepochs = 2.5", "train.epochs must be an integer >= 1, got train.epochs=2.5."),
        ("[train]\nepochs = '3'", "train.epochs must be an integer >= 1, got train.epochs='3'."),
        ("[train]\ninterval = 'batch'", "train.interval must be 'step' or 'epoch', got"),
        ("[train]\ndevice = 'gpu'", "train.device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("[train]\namp = 'yes'", "train.amp must be true or false"),
        ("[train]\ngrad_clip = 0", "train.grad_clip must be a number > 0 (or left out)"),
        ("[task]\nval_fraction = 1.0", "task.val_fraction must be a number in [0, 1), got"),
        ("[task]\nmodel = 'lenett'", "task.model: unknown model 'lenett'; did you mean 'lenet'?"),
        ("[task]\ndataset = 'mnits'", "task.dataset: unknown dataset 'mnits'; did you mean 'mnist'?"),
        ("[optimizer]\nlr = -0.1", "optimizer.lr must be a number > 0, got optimizer.lr=-0.1."),
        ("[optimizer]\nlr = inf", "optimizer.lr must be a finite number > 0"),
        ("[optimizer]\nname = 'sgd(momentun=0.9)'", "optimizer.name: unknown sgd() parameter 'momentun'"),
        ("[optimizer]\nname = 'adamm'", "optimizer.name: unknown optimizer 'adamm'; did you mean 'adam'?"),
        ("[optimizer]\nlr_multipliers = { head = 0 }", "optimizer.lr_multipliers.head must be a number > 0"),
        ("schedule = 'cosin(steps=10)'", "schedule: unknown schedule 'cosin'; did you mean 'cosine'?"),
        (
            "[early_stopping]\nmonitor = 'acc'",
            "early_stopping.monitor must be train_loss or a held-out metric val_<name>",
        ),
        ("[early_stopping]\nmode = 'up'", "early_stopping.mode must be 'auto', 'min' or 'max'"),
        ("[plateau]\nfactor = 1.5", "plateau.factor must be a number in (0, 1), got plateau.factor=1.5."),
        ("[divergence]\nthreshold = 1", "divergence.threshold must be a number > 1"),
        ("[finetune]\nfreeze = 'conv1'", "finetune.freeze must be a list of strings"),
        ("[finetune]\nfreeze = [1]", "finetune.freeze[0] must be a string in quotes"),
        ("train = 3", "train must be a table, got train=3."),
        ("name = 'a/b'", "name must be 1-100 letters, digits"),
        ("[train]\nepochs = 0\nseed = -1", "(and 1 more problem)"),
    ],
)
def test_bad_values_name_the_key_and_the_constraint(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "exp.toml"))
    assert expected in message


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in error_of(tmp_path, "[train\nepochs = 3")
    with pytest.raises(LrlabError, match="not found"):
        load_experiment(tmp_path / "missing.toml")


def test_specs_are_stored_in_canonical_form() -> None:
    experiment = validate({"schedule": "cosine( steps = 10 )", "optimizer": {"name": "sgd"}})
    assert experiment.schedule == "cosine(steps=10)"
    assert experiment.optimizer.name == "sgd()"
    assert validate({"task": {"model": "tests.train.plugins:slow_mlp"}}).task.model.endswith("slow_mlp")


def test_the_toml_round_trip_of_a_full_experiment(tmp_path: Path) -> None:
    experiment = validate(
        {
            "name": "round-trip",
            "schedule": "warmup(steps=5, start=0.0) >> multistep(milestones=[10, 20], gamma=0.5)",
            "task": {"model": "mlp(widths=[64, 32], dropout=0.1)", "augment": "flip()", "data_dir": "~/data"},
            "train": {"grad_clip": 0.5, "interval": "epoch"},
            "optimizer": {"name": "adamw(weight_decay=0.01)", "lr_multipliers": {"head.0": 10.0}},
            "early_stopping": {"enabled": True, "baseline": 0.5, "grace": 2},
            "finetune": {"init_from": "w.pt", "freeze": ["features.*", "0"]},
        }
    )
    path = write(tmp_path, to_toml(experiment))
    assert load_experiment(path) == experiment


@settings(max_examples=60, deadline=None)
@given(
    lr=st.floats(min_value=1e-12, max_value=1e6, allow_nan=False),
    epochs=st.integers(min_value=1, max_value=10**9),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    multipliers=st.dictionaries(
        st.text("abc.é\"'\\ ", min_size=1, max_size=6), st.floats(min_value=1e-6, max_value=1e3), max_size=3
    ),
    freeze=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
def test_toml_round_trips_exactly(
    lr: float, epochs: int, name: str, multipliers: dict[str, float], freeze: list[str]
) -> None:
    experiment = validate(
        {
            "name": name,
            "train": {"epochs": epochs},
            "optimizer": {"lr": lr, "lr_multipliers": multipliers},
            "finetune": {"freeze": freeze},
        }
    )
    assert validate(tomllib.loads(to_toml(experiment))) == experiment


def test_overrides_replace_keys_and_none_keeps_them() -> None:
    base = validate({"train": {"epochs": 7, "seed": 3}, "optimizer": {"lr": 0.2}})
    changed = apply_overrides(base, epochs=2, lr=None, model="lenet", freeze=["0.*"], optimizer="adam")
    assert (changed.train.epochs, changed.train.seed, changed.optimizer.lr) == (2, 3, 0.2)
    assert changed.task.model == "lenet" and changed.finetune.freeze == ["0.*"]
    assert changed.optimizer.name == "adam()"
    assert base.train.epochs == 7  # experiments are values: the original is unchanged


def test_early_stopping_override_turns_the_table_on() -> None:
    on = apply_overrides(Experiment(), early_stopping=True)
    assert on.early_stopping.enabled and on.early_stopping.patience == 5
    three = apply_overrides(Experiment(), early_stopping=3, monitor="val_acc")
    assert three.early_stopping.enabled and three.early_stopping.patience == 3
    assert three.early_stopping.monitor == "val_acc"


def test_override_errors_name_the_flag() -> None:
    with pytest.raises(LrlabError, match=r"--epochs must be an integer >= 1, got --epochs=0\."):
        apply_overrides(Experiment(), epochs=0)
    with pytest.raises(LrlabError, match=r"--val-fraction must be a number in \[0, 1\)"):
        apply_overrides(Experiment(), val_fraction=2.0)
    with pytest.raises(LrlabError, match=r"--schedule: unknown schedule 'cosin'"):
        apply_overrides(Experiment(), schedule="cosin(steps=3)")
    with pytest.raises(LrlabError, match="unknown override 'epoch'; did you mean 'epochs'"):
        apply_overrides(Experiment(), epoch=3)
