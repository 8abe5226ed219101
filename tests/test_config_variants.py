"""``[[variant]]`` tables and ``seeds``: merging over the shared settings, one-line errors that
name the variant and the key, TOML round trips, flags that win over variants."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lrlab.cli import main
from lrlab.config import Experiment, apply_overrides, load_experiment, resolve_variant, to_toml, validate
from lrlab.errors import LrlabError
from lrlab.train.run import run_name

SHARED = """
name = "cmp"
seeds = 2
[train]
epochs = 8
batch_size = 32
[optimizer]
name = "sgd(momentum=0.9)"
lr = 0.3
"""


def load(tmp_path: Path, variants: str, shared: str = SHARED) -> Experiment:
    path = tmp_path / "cmp.toml"
    path.write_text(shared + variants, encoding="utf-8")
    return load_experiment(path)


def error_of(tmp_path: Path, variants: str) -> str:
    with pytest.raises(LrlabError) as caught:
        load(tmp_path, variants)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_variant_replaces_only_the_keys_it_sets(tmp_path: Path) -> None:
    experiment = load(
        tmp_path,
        """
        [[variant]]
        name = "cosine"
        schedule = "cosine( steps = 8 )"
        [variant.optimizer]
        lr = 0.1
        [variant.early_stopping]
        enabled = true
        [[variant]]
        name = "plain"
        """,
    )
    assert experiment.seeds == 2 and [v.name for v in experiment.variant] == ["cosine", "plain"]
    assert experiment.variant[0].schedule == "cosine(steps=8)"  # canonical, like the shared one
    cosine = resolve_variant(experiment, experiment.variant[0])
    assert cosine.schedule == "cosine(steps=8)" and cosine.optimizer.lr == 0.1
    assert cosine.optimizer.name == "sgd(momentum=0.9)" and cosine.train.epochs == 8
    assert cosine.early_stopping.enabled and cosine.early_stopping.patience == 5
    assert cosine.variant == [] and cosine.name == "cmp"
    plain = resolve_variant(experiment, experiment.variant[1])
    assert plain == validate({**experiment.model_dump(), "variant": []})


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (
            '[[variant]]\nname = "a"\nlr = 0.1',
            "unknown key 'variant[0].lr'. Valid keys of [[variant]]: divergence, early_stopping, name, "
            "optimizer, plateau, schedule, task, train.",
        ),
        (
            '[[variant]]\nname = "a"\n[variant.train]\nepoch = 3',
            "variant 'a': unknown key 'train.epoch'; did you mean 'epochs'? Valid keys of [train]:",
        ),
        (
            '[[variant]]\nname = "a"\n[variant.finetune]\nfreeze = ["0"]',
            "unknown key 'variant[0].finetune'",
        ),
        (
            '[[variant]]\nname = "a"\n[variant.optimizer]\nlr = -1.0',
            "variant 'a': optimizer.lr must be a number > 0",
        ),
        (
            '[[variant]]\nname = "a"\n[variant.optimizer]\nname = "sgdd()"',
            "variant 'a': optimizer.name: unknown optimizer 'sgdd'; did you mean 'sgd'?",
        ),
        (
            '[[variant]]\nname = "a"\n[variant.task]\ndataset = "mnsit"',
            "variant 'a': task.dataset: unknown dataset 'mnsit'; did you mean 'mnist'?",
        ),
        (
            '[[variant]]\nname = "a"\nschedule = "cosin(steps=3)"',
            "variant[0].schedule: unknown schedule 'cosin'; did you mean 'cosine'?",
        ),
        ('[[variant]]\nname = "a"\n[[variant]]\nname = "A"', "variant names must be unique folder names"),
        ('[[variant]]\nname = "a/b"', "variant[0].name must be 1-100 letters, digits"),
        ('[[variant]]\nschedule = "constant()"', "variant[0].name is required."),
        ('[[variant]]\nname = "a"\ntrain = 3', "variant[0].train must be a table, got variant[0].train=3."),
    ],
)
def test_bad_variants_are_one_line_errors_naming_the_variant_and_key(
    tmp_path: Path, variants: str, expected: str
) -> None:
    message = error_of(tmp_path, variants)
    assert expected in message
    assert message.startswith(str(tmp_path / "cmp.toml"))


def test_variant_must_be_a_list_of_tables_and_seeds_a_positive_count() -> None:
    with pytest.raises(LrlabError, match="variant must be a list of tables, got variant='a'"):
        validate({"variant": "a"})
    with pytest.raises(LrlabError, match=r"seeds must be an integer in \[1, 1000\], got seeds=0\."):
        validate({"seeds": 0})
    with pytest.raises(LrlabError, match=r"--seeds must be an integer in \[1, 1000\]"):
        apply_overrides(Experiment(), seeds=-1)


def test_variants_round_trip_through_toml_as_lists_of_tables(tmp_path: Path) -> None:
    experiment = validate(
        {
            "name": "rt",
            "seeds": 3,
            "variant": [
                {"name": "a", "schedule": "warmup(steps=2, start=0.1) >> cosine(steps=8)"},
                {
                    "name": "b",
                    "optimizer": {"lr": 0.01, "lr_multipliers": {"head.0": 10.0}},
                    "train": {"seed": 7},
                },
                {"name": "c", "early_stopping": {"enabled": True, "monitor": "val_acc"}},
            ],
        }
    )
    text = to_toml(experiment)
    assert text.count("[[variant]]") == 3 and "[variant.optimizer]" in text
    assert validate(tomllib.loads(text)) == experiment
    path = tmp_path / "rt.toml"
    path.write_text(text, encoding="utf-8")
    assert load_experiment(path) == experiment


def test_flags_win_over_the_variants_own_keys() -> None:
    experiment = validate(
        {"variant": [{"name": "long", "train": {"epochs": 50}}, {"name": "short", "optimizer": {"lr": 0.5}}]}
    )
    changed = apply_overrides(experiment, epochs=2, name="quick", early_stopping=3)
    assert [resolve_variant(changed, v).train.epochs for v in changed.variant] == [2, 2]
    assert resolve_variant(changed, changed.variant[1]).optimizer.lr == 0.5  # not overridden
    assert changed.name == "quick" and [v.name for v in changed.variant] == ["long", "short"]
    assert all(resolve_variant(changed, v).early_stopping.enabled for v in changed.variant)


def test_run_names_of_lrlab_train_do_not_depend_on_the_comparison_keys() -> None:
    assert run_name(validate({"seeds": 4, "variant": [{"name": "x"}]})) == run_name(Experiment())


def test_lrlab_train_refuses_a_file_with_variants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cmp.toml"
    path.write_text(SHARED + '[[variant]]\nname = "a"\n', encoding="utf-8")
    assert main(["train", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lrlab compare" in err and "1 [[variant]] tables" in err
    assert not (tmp_path / "runs").exists()
