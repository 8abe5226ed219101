"""The settings table: a field marked with a ``Flag`` is a flag of exactly the commands it names,
and its value from the command line lands on that field — nothing else lists the settings."""

from __future__ import annotations

import argparse
from typing import Any, get_origin

import pytest

from lrlab.cli import build_parser
from lrlab.commands.setting_flags import overrides, train_words
from lrlab.config import SETTINGS, Experiment, Setting, apply_overrides, settings_of
from lrlab.config.flags import EVERY, FIND_LR, TRAIN
from lrlab.errors import LrlabError

# each command's options that are not settings: what it does, not what it trains
OWN = {
    "train": {"--out", "--resume", "--quiet", "--nproc"},
    "find-lr": {
        "--param", "--start", "--end", "--steps", "--mode", "--repeats", "--divergence", "--accumulation",
        "--validation", "--confirm", "--confirm-epochs", "--format", "--plot", "--out", "--quiet",
    },
    "compare": {"--preset", "--jobs", "--out", "--quiet", "--no-report", "--force"},
    "tune": {
        "--preset", "--trials", "--budget-epochs", "--timeout", "--workers", "--storage", "--study",
        "--sampler", "--pruner", "--cv", "--lr-scaling", "--reference-batch-size", "--heartbeat",
        "--final", "--out", "--force", "--quiet", "--no-report",
    },
}  # fmt: skip
# values of text settings (any other type gets a value from its type and default)
TEXT = {
    "name": ("quick", "quick"),
    "schedule": ("cosine(steps=10)", "cosine(steps=10)"),
    "dataset": ("mnist", "mnist"),
    "model": ("lenet", "lenet"),
    "data_dir": ("data", "data"),
    "device": ("cpu", "cpu"),
    "optimizer": ("adam", "adam()"),
    "monitor": ("val_acc", "val_acc"),
    "init_from": ("base.pt", "base.pt"),
}


def parser_of(command: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = subparsers.choices[command]
    return parser


def held(experiment: Experiment, path: str) -> Any:
    value: Any = experiment
    for part in path.split("."):
        value = getattr(value, part)
    return value


def sample(setting: Setting, command: str) -> tuple[list[str], Any]:
    """Words that give ``setting`` a value other than its default, and the value it then holds."""
    flag, kind, default = setting.flag_in(command), setting.annotation, held(Experiment(), setting.path)
    if setting.key in TEXT:
        text, value = TEXT[setting.key]
        return [flag, text], value
    if kind is bool:
        return [flag], not default
    if (values := setting.choices) is not None:
        value = next(choice for choice in values if choice != default)
        return [flag, value], value
    if get_origin(kind) is list:
        return [flag, "a.*", flag, "b"], ["a.*", "b"]
    if get_origin(kind) is dict:
        return [flag, "head=2", flag, "0=3"], {"head": 2.0, "0": 3.0}
    if kind is int:
        return [flag, str((default or 1) + 1)], (default or 1) + 1
    if kind is float:
        return [flag, repr(default / 2)], default / 2
    raise AssertionError(f"no value for --{setting.key}: add one to TEXT")


@pytest.mark.parametrize("command", EVERY)
def test_a_commands_flags_are_its_settings_and_its_own_options(command: str) -> None:
    flags = {option for action in parser_of(command)._actions for option in action.option_strings}
    settings = {flag for s in settings_of(command) for flag in (s.flag_in(command), *s.marker.aliases)}
    assert not settings & OWN[command]
    assert flags == settings | OWN[command] | {"-h", "--help", "--debug"}


@pytest.mark.parametrize("command", EVERY)
def test_each_flag_lands_on_its_field(command: str) -> None:
    for setting in settings_of(command):
        words, value = sample(setting, command)
        args = parser_of(command).parse_args(words)
        given = {key: v for key, v in overrides(args, command).items() if v is not None}
        assert list(given) == [setting.key]
        experiment = apply_overrides(Experiment(), **given)
        assert held(experiment, setting.path) == value, setting.key
        if setting.marker.switch:
            assert held(experiment, f"{setting.table}.enabled") is True


@pytest.mark.parametrize("command", EVERY)
def test_flags_not_given_keep_the_files_values(command: str) -> None:
    args = parser_of(command).parse_args([])
    values = overrides(args, command)
    assert set(values) == {setting.key for setting in settings_of(command)}
    assert set(values.values()) == {None}


def test_the_help_of_a_flag_is_its_fields_description() -> None:
    actions = {a.option_strings[0]: a for a in parser_of(TRAIN)._actions if a.option_strings}
    for setting in settings_of(TRAIN):
        assert actions[setting.flag].help == setting.help
    assert actions["--lr"].help == "base learning rate"


def test_find_lr_repeats_its_settings_as_lrlab_train_spells_them() -> None:
    assert {s.key for s in settings_of(FIND_LR)} <= {s.key for s in settings_of(TRAIN)}
    words = [
        "--train-steps",
        "50",
        "--lr-multiplier",
        "head=2",
        "--freeze",
        "0.*",
        "--lr",
        "0.3",
        "--data",
        "mnist",
    ]
    found = parser_of(FIND_LR).parse_args(words)
    again = train_words(found, FIND_LR, skip={"lr"})
    assert again == ["--dataset", "mnist", "--steps", "50", "--lr-multiplier", "head=2", "--freeze", "0.*"]
    trained = overrides(parser_of(TRAIN).parse_args(again), TRAIN)
    assert {k: v for k, v in overrides(found, FIND_LR).items() if k != "lr"}.items() <= trained.items()


def test_override_keys_are_unique_and_unknown_ones_are_named() -> None:
    assert len(SETTINGS) == len({setting.path for setting in SETTINGS.values()})
    with pytest.raises(LrlabError, match="unknown override 'epoch'; did you mean 'epochs'"):
        apply_overrides(Experiment(), epoch=3)


def test_a_table_flag_names_its_form_when_an_item_is_not_one() -> None:
    args = parser_of(FIND_LR).parse_args(["--lr-multiplier", "head"])
    with pytest.raises(LrlabError, match=r"--lr-multiplier takes PREFIX=FACTOR like head=10, got 'head'\."):
        overrides(args, FIND_LR)


@pytest.mark.parametrize(("command", "flag"), [(TRAIN, "--steps"), (FIND_LR, "--train-steps")])
def test_a_bad_value_is_named_by_the_flag_its_command_spells(command: str, flag: str) -> None:
    with pytest.raises(LrlabError, match=f"^{flag} must be an integer >= 1") as error:
        apply_overrides(Experiment(), command=command, steps=0)
    assert f"got {flag}=0" in str(error.value)
