"""Each command has its own namespace under runs/, and a different experiment is never
overwritten without --force; study names are plain folder names."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrlab.cli import main
from lrlab.compare import compare, plan
from lrlab.config import validate
from lrlab.errors import LrlabError
from lrlab.train.run import run_directory
from lrlab.tune.study import TuneConfig

EXPERIMENT = """\
name = "same"
seeds = 1
[train]
epochs = 2
device = "cpu"
interval = "epoch"
[[variant]]
name = "constant"
schedule = "constant()"
[[variant]]
name = "cosine"
schedule = "cosine(steps=2)"
"""


def test_tune_and_compare_of_the_same_name_keep_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "same.toml").write_text(EXPERIMENT, encoding="utf-8")
    assert main(["compare", "same.toml", "--quiet", "--jobs", "1"]) == 0
    comparison = (tmp_path / "runs/same/experiment.toml").read_text(encoding="utf-8")
    assert "[[variant]]" in comparison
    tune = ["tune", "same.toml", "--trials", "1", "--workers", "1", "--quiet", "--no-report"]
    assert main(tune) == 0
    assert (tmp_path / "runs/same/experiment.toml").read_text(encoding="utf-8") == comparison
    assert (tmp_path / "runs/tune/same/best.toml").is_file()
    assert not (tmp_path / "runs/same/study.db").exists()
    capsys.readouterr()
    # tune told to write where the comparison is: refused, nothing touched
    assert main([*tune, "--out", "runs"]) == 2
    err = capsys.readouterr().err
    assert "holds another experiment" in err and "--force" in err and len(err.splitlines()) == 1
    assert (tmp_path / "runs/same/experiment.toml").read_text(encoding="utf-8") == comparison
    assert not (tmp_path / "runs/same/study.db").exists()


def test_train_and_find_lr_write_into_their_own_namespaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    experiment = validate({"name": "same"})
    assert run_directory(experiment).parent == Path("runs/train/same")  # not the study's folder
    assert main(["find-lr", "--steps", "8", "--quiet", "--format", "json", "--name", "same"]) == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["find-lr"]
    assert next((tmp_path / "runs/find-lr/same").iterdir()).name.startswith("find-lr-")


@pytest.mark.parametrize("study", ["../escaped", "a/b", "", ".hidden", "..", "x" * 101, "a\\b"])
def test_study_names_are_checked(study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LrlabError, match="--study must be"):
        TuneConfig(study=study)
    assert main(["tune", "--study", study, "--out", str(tmp_path / "out")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("name", ["tune", "train", "find-lr", "Tune"])
def test_a_comparison_may_not_take_another_commands_namespace(name: str, tmp_path: Path) -> None:
    with pytest.raises(LrlabError, match="may not be named"):
        plan(validate({"name": name}), out=tmp_path)


def test_a_different_comparison_of_the_same_name_needs_force(tmp_path: Path) -> None:
    first = validate({"name": "c", "train": {"epochs": 1, "device": "cpu"}, "variant": [{"name": "a"}]})
    compare(first, out=tmp_path, report=False)
    other = validate({"name": "c", "train": {"epochs": 1, "device": "cpu"}, "variant": [{"name": "b"}]})
    with pytest.raises(LrlabError, match=r"holds another experiment \(variant: .*--force"):
        compare(other, out=tmp_path, report=False)
    assert 'name = "a"' in (tmp_path / "c/experiment.toml").read_text(encoding="utf-8")
    more_seeds = validate({**first.model_dump(), "seeds": 2})
    assert len(compare(more_seeds, out=tmp_path, report=False).runs) == 2  # extending is no other experiment
    compare(other, out=tmp_path, report=False, force=True)
    assert 'name = "b"' in (tmp_path / "c/experiment.toml").read_text(encoding="utf-8")


def test_force_retrains_run_folders_of_other_settings(tmp_path: Path) -> None:
    first = validate({"name": "f", "train": {"epochs": 1, "device": "cpu"}})
    compare(first, out=tmp_path, report=False)
    other = validate({"name": "f", "train": {"epochs": 2, "device": "cpu"}})
    with pytest.raises(LrlabError, match="other settings"):
        compare(other, out=tmp_path, report=False)
    result = compare(other, out=tmp_path, report=False, force=True)
    assert not result.runs[0].skipped and result.runs[0].summary["epochs"] == 2
