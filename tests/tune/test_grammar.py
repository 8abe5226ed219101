"""The ``[search]`` grammar: canonical forms, round trips through TOML, and every mistake named
with its fix — in the library and as ``lrlab tune`` exit code 2 before any training."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.cli import main
from lrlab.config import load_experiment, normalize_search, to_toml, validate
from lrlab.config.distributions import parse_distribution
from lrlab.errors import LrlabError
from tests.tune.conftest import tiny_toml


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("loguniform(1e-4, 1)", "loguniform(0.0001, 1)"),
        ("uniform(0.5,0.99)", "uniform(0.5, 0.99)"),
        ("uniform(0, 1, step=0.25)", "uniform(0, 1, step=0.25)"),
        ("int(0, 5)", "int(0, 5)"),
        ("int(1, 64, log=true)", "int(1, 64, log=true)"),
        ("1-loguniform(1e-4,0.1)", "1 - loguniform(0.0001, 0.1)"),
        ("choice(32, 64)", "choice(32, 64)"),
        ("choice(true, false)", "choice(true, false)"),
    ],
)
def test_distributions_print_canonically(text: str, canonical: str) -> None:
    assert str(parse_distribution("x", text)) == canonical
    assert str(parse_distribution("x", canonical)) == canonical


def test_specs_and_names_are_choices_in_canonical_form() -> None:
    table = normalize_search(
        {
            "optimizer": "choice('sgd', rmsprop(alpha=0.9), \"adamw(weight_decay=0.01)\")",
            "schedule": "choice('cosine', warmup(steps=2, start=0.1) >> cosine(steps=8))",
        }
    )
    assert table["optimizer"] == 'choice("sgd()", "rmsprop(alpha=0.9)", "adamw(weight_decay=0.01)")'
    assert table["schedule"] == 'choice("cosine", "warmup(steps=2, start=0.1) >> cosine(steps=8)")'


def test_nested_and_dotted_keys_are_one_key_and_round_trip_through_toml(tmp_path: Path) -> None:
    nested = validate({"search": {"train": {"epochs": "int(2, 6)"}, "lr": "loguniform(0.001, 1)"}})
    dotted = validate({"search": {"train.epochs": "int(2, 6)", "lr": "loguniform(1e-3, 1)"}})
    assert nested == dotted and nested.search == {"train.epochs": "int(2, 6)", "lr": "loguniform(0.001, 1)"}
    text = to_toml(nested)
    assert validate(tomllib.loads(text)) == nested
    path = tmp_path / "e.toml"
    path.write_text(tiny_toml(), encoding="utf-8")
    loaded = load_experiment(path)
    assert set(loaded.search) == {"lr", "momentum", "schedule"}


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            {"lr": "loguniform(1, 1e-3)"},
            r"search.lr must be loguniform\(low, high\) with low < high.*Write loguniform\(0.001, 1\)",
        ),
        ({"lr": "loguniform(0, 1)"}, r"with 0 < low.*Use uniform"),
        ({"lr": "uniform(0.1, 0.1)"}, r"low < high.*Use choice"),
        ({"lr": "logunifrom(1e-3, 1)"}, r"unknown distribution 'logunifrom'; did you mean 'loguniform'\?"),
        ({"momentun": "uniform(0, 0.9)"}, r"unknown key 'momentun'; did you mean 'momentum'\?"),
        (
            {"momentum": "uniform(0, 1.5)"},
            r"search.momentum must be a distribution of numbers in \[0, 1\).*E\.g\. 1 - loguniform",
        ),
        ({"beta2": "1 - loguniform(1e-4, 2)"}, r"search.beta2 must be .* in \[0, 1\)"),
        ({"warmup": "uniform(0, 3)"}, r"search.warmup must be int\(low, high\) or choice"),
        ({"lr": 0.1}, r"search.lr must be a string.*in quotes"),
        ({"schedule": "choice('cosin')"}, r"unknown schedule family 'cosin'; did you mean 'cosine'\?"),
        ({"optimizer": "choice('sgdd')"}, r"unknown optimizer 'sgdd'; did you mean 'sgd'\?"),
        ({"space": "adamx"}, r"unknown built-in space 'adamx'; did you mean 'adam'\?"),
        ({"train.seed": "int(0, 3)"}, r"search.train.seed cannot be searched"),
        ({"train.batch_size": "choice(32)"}, r"Search it as batch_size"),
        ({"train.epoch": "int(1, 3)"}, r"unknown \[train\] setting 'epoch'; did you mean 'epochs'\?"),
        ({"int(1, 2)": "int(1, 2)"}, r"unknown key"),
        ({"lr": "int(1, 2.5)"}, r"two integers"),
        ({"lr": "loguniform(1e-3, 1, step=0.1)"}, r"unknown loguniform\(\) option 'step'"),
        ({"nesterov": "choice(1, 0)"}, r"choice\(true, false\)"),
        ({"lr": "loguniform(1e-3, 1"}, r"search.lr"),
    ],
)
def test_mistakes_name_the_key_and_the_fix(search: dict[str, object], message: str) -> None:
    with pytest.raises(LrlabError, match=message):
        validate({"search": search})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gives_a_distribution_or_an_lrlab_error(text: str) -> None:
    try:
        distribution = parse_distribution("x", text)
    except LrlabError:
        return
    assert str(parse_distribution("x", str(distribution))) == str(distribution)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(1e-8, 1e3, allow_nan=False),
    st.floats(1e-8, 1e3, allow_nan=False),
)
def test_loguniform_accepts_exactly_the_increasing_positive_ranges(a: float, b: float) -> None:
    text = f"loguniform({a!r}, {b!r})"
    if a < b:
        assert parse_distribution("lr", text).values() == (a, b)
    else:
        with pytest.raises(LrlabError, match="low < high"):
            parse_distribution("lr", text)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ('lr = "loguniform(1, 0.001)"', "Write loguniform(0.001, 1)."),
        ('lr = "logunif(0.001, 1)"', "did you mean 'loguniform'?"),
        ('momentum_ = "uniform(0.5, 0.9)"', "did you mean 'momentum'?"),
        (
            'optimizer = "choice(\'adam\')"\nmomentum = "uniform(0.5, 0.9)"',
            "search.momentum applies to sgd only",
        ),
        ('warmup = "int(0, 4)"', "search.warmup must be below train.epochs=4"),
    ],
)
def test_lrlab_tune_exits_2_with_one_line_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], search: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(tiny_toml(search), encoding="utf-8")
    code, out, err = run_main(capsys, "tune", str(path), "--out", str(tmp_path / "runs"))
    assert code == 2 and out == ""
    assert err.startswith("lrlab: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # nothing was created, let alone trained


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sampler", "tpee"], "unknown sampler 'tpee'; did you mean 'tpe'?"),
        (["--pruner", "asah"], "unknown pruner 'asah'; did you mean 'asha'?"),
        (["--cv", "1"], "--cv must be 0 (a validation split) or a number of folds >= 2"),
        (["--trials", "0"], "--trials must be an integer >= 1"),
        (["--reference-batch-size", "64"], "--reference-batch-size needs --lr-scaling"),
        (["--preset", "quickstrat"], "unknown tune preset 'quickstrat'; did you mean 'quickstart'?"),
        (["--storage", "not a url"], "--storage must be an SQLAlchemy URL"),
        (["--val-fraction", "0"], "tuning needs held-out data"),
        (["--sampler", "grid"], "--sampler grid needs a finite set of values, but search.lr is"),
        (["--storage", "sqlite://"], "an in-memory SQLite database is gone with its connection"),
    ],
)
def test_bad_flags_exit_2_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, "tune", "--out", str(tmp_path / "runs"), *flags)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()
