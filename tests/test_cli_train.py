"""``lrlab train``: end to end on the embedded digits, exit codes of bad input, plug-ins, and
the MNIST accuracy check on the real MNIST test set (mnist-8k)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lrlab.cli import main
from tests.data.conftest import MNIST_TEST_FILES, SHARED_DATASETS

ROOT = Path(__file__).resolve().parents[1]
FAST = ("--epochs", "2", "--batch-size", "64", "--device", "cpu", "--quiet")
PROBE = """
import json, sys
from lrlab.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def summary_of(out: Path) -> dict[str, Any]:
    (path,) = out.glob("*/*/summary.json")
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def mnist_test_dir() -> Path:
    """The genuine MNIST test set (IDX, gzipped); skips when the shared datasets are absent."""
    folder = (SHARED_DATASETS / "mnist-test").resolve()
    if not all((folder / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"real MNIST test files not found in {folder} (the shared datasets folder is absent)")
    return folder


def test_train_on_digits_prints_a_summary_and_the_stop_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_main(capsys, "train", *FAST, "--out", str(tmp_path), "--early-stopping", "3")
    assert code == 0, err
    assert "stop reason: finished 2 epochs" in out
    for row in ("epochs / steps", "best val_loss", "final val_acc", "test_acc", "wall time"):
        assert row in out
    summary = summary_of(tmp_path)
    assert summary["stop"]["kind"] == "finished" and summary["epochs"] == 2
    assert err == ""  # --quiet: no progress bar, no start line

    code, _, err = run_main(capsys, "train", *FAST, "--out", str(tmp_path), "--early-stopping", "3")
    assert code == 2
    assert err.startswith("lrlab: error: run directory ") and "already holds a finished run" in err


def test_an_experiment_file_and_flags_combine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    experiment = tmp_path / "digits-small.toml"
    experiment.write_text('[task]\nmodel = "mlp(widths=[16])"\n[train]\nepochs = 5\n', encoding="utf-8")
    out = tmp_path / "runs"
    code, _, err = run_main(capsys, "train", str(experiment), *FAST, "--out", str(out), "--seed", "4")
    assert code == 0, err
    (config_path,) = out.glob("digits-small/*/config.json")
    resolved = json.loads(config_path.read_text(encoding="utf-8"))["experiment"]
    assert resolved["name"] == "digits-small"
    assert resolved["task"]["model"] == "mlp(widths=[16])"
    assert (resolved["train"]["epochs"], resolved["train"]["seed"]) == (2, 4)  # flags win


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[train]\nepoch = 3\n", "unknown key 'train.epoch'; did you mean 'epochs'? Valid keys of [train]:"),
        ("[train]\nepochs = 0\n", "train.epochs must be an integer >= 1, got train.epochs=0."),
        ("[optimizer]\nname = 'sgdd'\n", "optimizer.name: unknown optimizer 'sgdd'; did you mean 'sgd'?"),
    ],
)
def test_a_bad_experiment_file_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    experiment = tmp_path / "bad.toml"
    experiment.write_text(text, encoding="utf-8")
    code, out, err = run_main(capsys, "train", str(experiment), "--out", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"lrlab: error: {experiment}: ")
    assert expected in err
    assert not (tmp_path / "bad").exists()  # nothing was started


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--epochs", "0"), "--epochs must be an integer >= 1, got --epochs=0."),
        (("--lr", "-1"), "--lr must be a number > 0"),
        (("--model", "lenett"), "--model: unknown model 'lenett'; did you mean 'lenet'?"),
        (("--monitor", "acc"), "--monitor must be train_loss or a held-out metric val_<name>"),
        (("--lr-multiplier", "head"), "--lr-multiplier takes PREFIX=FACTOR like head=10, got 'head'."),
        (("--schedule", "cosine(stps=3)"), "--schedule: "),
    ],
)
def test_bad_flags_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    code, _, err = run_main(capsys, "train", "--out", str(tmp_path), *args)
    assert code == 2
    assert expected in err and err.count("\n") == 1


def test_dataset_and_model_plug_ins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    args = ("--data", "tests.train.plugins:blobs(n=300)", "--model", "linear", "--lr", "0.5")
    code, _, err = run_main(capsys, "train", *FAST, *args, "--out", str(tmp_path), "--val-fraction", "0")
    assert code == 0, err
    summary = summary_of(tmp_path)
    assert summary["test"]["test_acc"] > 0.9  # three well separated blobs


def test_help_does_not_import_torch() -> None:
    for args in (["--help"], ["train", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        result = json.loads(done.stdout.splitlines()[-1])
        assert result == {"code": 0, "torch": False}, args
        if args[0] == "train":
            for flag in ("--resume", "--init-from", "--freeze", "--early-stopping", "--out", "--quiet"):
                assert flag in done.stdout


def test_lenet_reaches_92_percent_on_mnist_8k_in_3_epochs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mnist_test_dir: Path
) -> None:
    images, labels = (mnist_test_dir / name for name in MNIST_TEST_FILES)
    dataset = f'idx(images="{images}", labels="{labels}", test_size=2000)'
    code, out, err = run_main(
        capsys,
        "train",
        *("--dataset", dataset, "--model", "lenet", "--optimizer", "sgd(momentum=0.9)"),
        *("--lr", "0.03", "--epochs", "3", "--out", str(tmp_path), "--quiet"),
    )
    assert code == 0, err
    summary = summary_of(tmp_path)
    config = json.loads(next(tmp_path.glob("*/*/config.json")).read_text(encoding="utf-8"))
    assert config["data"]["test"] == 2000
    assert config["data"]["train"] + config["data"]["val"] == 8000
    assert summary["test"]["test_acc"] >= 0.92, out
