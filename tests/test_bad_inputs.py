"""Every bad input is answered with one line: exit 2, ``lrlab: error: …`` naming the value, no
traceback, and no run folder left half-written (issue 16, group 4).

Each row is ``(id, argv, files, expected)``: ``files`` are written into the working directory
first (``{name: text}``; ``checkpoint:<kind>`` damages a started run's checkpoint.pt), and
``expected`` is a piece of the one error line.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lrlab.cli import main

T = ["train", "--quiet", "--epochs", "1", "--device", "cpu"]
F = ["find-lr", "--steps", "5", "--device", "cpu"]
S = ["schedule"]

BOMB = "idx(images='bomb-images.gz', labels='bomb-labels.gz', test_size=10)"
DEEP = "seeds = " + "[" * 3000 + "]" * 3000 + "\n"
DEEP_TABLE = "x = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n"

SCHEDULES = [
    ("cosine_restarts(steps=1, mult=1e308)", "mult must be a finite number of at most 1e12"),
    ("cosine(steps=1e-310, periodic=true)", "steps must be 0 or a number of steps >= 1e-6"),
    ("polynomial(steps=1e-320, cycle=true)", "steps must be 0 or a number of steps >= 1e-6"),
    ("inverse_time(rate=0, every=1e-320)", "every must be 0 or a number of steps >= 1e-6"),
    ("scale(constant(), factor=1e308)", "factor must be a finite number of at most 1e12"),
    ("scale(scale(constant(), factor=1e12), factor=1e12)", "the multiplier at step 0 is 1e+24"),
    ("step(every=1e-9)", "every must be 0 or a number of steps >= 1e-6"),
    ("exponential(gamma=0.5, every=1e-300)", "every must be"),
    ("inverse_sqrt(offset=1e-320)", "offset must be"),
    ("linear(steps=5e-324)", "steps must be"),
    ("cosine(steps=1e999)", "steps must be a finite number"),
    ("cosine(steps=-1)", "steps must be a number of steps >= 0"),
    ("cosine(steps=nan)", "cosine"),
    ("constant(value=1e13)", "value must be a finite number of at most 1e12"),
    ("constant(value=-1)", "value must be >= 0"),
    ("floor(constant(), value=1e300)", "value must be a finite number of at most 1e12"),
    ("piecewise(points=[[0, 1e300]])", "points must be a finite number of at most 1e12"),
    ("multistep(milestones=[30, 10])", "milestones must be in increasing order"),
    ("multistep(milestones=30)", "milestones must be a list"),
    ("warmup(steps=1e-30, start=0)", "steps must be"),
    ("cosine_restarts(steps=1, mult=0.5)", "mult must be >= 1"),
    ("cosine_restarts(steps=1e-7)", "steps must be"),
    ("cyclic(steps_up=1e-12, start=0)", "steps_up must be"),
    ("one_cycle(steps=1e-9)", "steps must be"),
    ("wsd(steps=10, decay_steps=20, end=0)", "decay_steps must be in (0, steps]"),
    ("cosin(steps=10)", "did you mean 'cosine'"),
    ("cosine(step=10)", "cosine"),
    ("cosine(steps=10", "cosine(steps=10"),
    ("cosine(steps=10) >>", ">>"),
    ("exponential(gamma=2)", "gamma must be in (0, 1]"),
    ("take(cosine(steps=10), steps=1e-9)", "steps must be"),
    ("skip(cosine(steps=10), steps=1e-9)", "steps must be"),
]

OPTIMIZERS = [
    ("sgd(weight_decay=1e308)", "weight_decay must be at most 1e12"),
    ("adam(eps=1e39)", "eps must be at most 1e12"),
    ("adamw(eps=1e13)", "eps must be at most 1e12"),
    ("rmsprop(weight_decay=1e20)", "weight_decay must be at most 1e12"),
    ("sgd(momentum=1)", "momentum must be a number in [0, 1)"),
    ("sgd(momentum=-0.1)", "momentum must be"),
    ("sgd(nesterov=true)", "nesterov must be false"),
    ("adam(betas=[0.9])", "betas must be a list of two numbers"),
    ("adam(betas=[1.5, 0.9])", "betas must be"),
    ("adam(eps=0)", "eps must be a finite number > 0"),
    ("sgd(weight_decay=-1)", "weight_decay must be a finite number >= 0"),
    ("sgd(lr=0.1)", "lr is not part of an optimizer spec"),
    ("sgdd()", "did you mean 'sgd'"),
    ("sgd(momentun=0.9)", "momentun"),
    ("rmsprop(alpha=1)", "alpha must be a number in (0, 1)"),
    ("sgd(0.9)", "keyword arguments"),
    ("sgd() >> adam()", "one call"),
    ("sgd(momentum=0.9, momentum=0.8)", "twice"),
]

MODELS = [
    ("lenet", "lenet needs images of at least 12x12 pixels, got 8x8"),
    ("cifar-cnn", "cifar-cnn needs images of at least 10x10 pixels"),
    ("mlp(widths=64)", "widths must be a list of positive integers"),
    ('mlp(batch_norm="yes")', "batch_norm must be true or false"),
    ("mlp(widths=[1000000000000])", "parameters"),
    ("mlp(widths=[100000, 100000])", "more than lrlab builds"),
    ("mlp(widths=[0])", "widths must be a list of positive integers"),
    ("mlp(widths=[-5])", "widths must be"),
    ("mlp(widths=[1.5])", "widths must be"),
    ('mlp(widths=["a"])', "widths must be"),
    ("mlp(widths=[true])", "widths must be"),
    ("mlp(dropout=1)", "dropout must be a number in [0, 1)"),
    ("mlp(dropout=-0.5)", "dropout must be"),
    ('mlp(dropout="x")', "dropout must be"),
    ("mlp(depth=3)", "unknown mlp option 'depth'"),
    ("cifar-cnn(dropout=2)", "dropout must be"),
    ("lenet(width=3)", "unknown lenet option"),
    ("mlpp", "did you mean 'mlp'"),
    ("resnet", "unknown model 'resnet'"),
    ("mlp >> lenet", "model"),
    ("char-transformer", "char-transformer reads windows"),
]

DATASETS = [
    ("synthetic-regression(n=1e11)", "n must be"),
    ("synthetic-regression(noise=-0.5)", "noise must be a finite number >= 0"),
    ("digitz", "did you mean 'digits'"),
    ("idx(images='missing.gz', labels='missing2.gz', test_size=10)", "missing"),
    ("mnist >> digits", "dataset"),
]

CLI = [
    (["train", "/"], "is a directory, not a file"),
    (["compare", "/"], "is a directory, not a file"),
    (["find-lr", "/"], "is a directory, not a file"),
    (["train", "nowhere.toml"], "not found"),
    ([*T, "--lr", "1e39"], "--lr must be at most 1e12"),
    ([*T, "--lr", "0"], "--lr must be a number > 0"),
    ([*T, "--lr", "-1"], "--lr must be"),
    ([*T, "--lr", "inf"], "--lr must be"),
    ([*T, "--lr", "nan"], "--lr must be"),
    ([*T, "--lr-multiplier", "0=1e13"], "at most 1e12"),
    ([*T, "--lr-multiplier", "0=-1"], "must be a number > 0"),
    ([*T, "--device", "mps"], "device must be a device this machine has"),
    ([*T, "--device", "tpu"], "device"),
    ([*T, "--batch-size", "0"], "--batch-size must be"),
    ([*T, "--epochs", "0"], "--epochs must be"),
    ([*T, "--val-fraction", "1.5"], "--val-fraction must be"),
    ([*T, "--seed", "-1"], "--seed must be"),
    ([*T, "--monitor", "val_acc!"], "monitor"),
    ([*T, "--name", "../escape"], "--name must be"),
    ([*T, "--name", ""], "--name must be"),
    ([*T, "--init-from", "missing.pt"], "missing.pt"),
    (["schedule", "cosine(steps=10)", "--steps", "0"], "--steps must be"),
    (["schedule", "cosine(steps=10)", "--steps", "10", "--lr", "0"], "--lr must be a finite number > 0"),
    (["schedule", "cosine(steps=10)"], "--steps N is needed"),
    (["schedule", "--steps", "10"], "a SPEC is needed"),
    (["schedule", "cosine(steps=10)", "--steps", "5", "--every", "0"], "--every must be"),
    (["schedule", "cosine(steps=10)", "--steps", "5", "--log-y"], "--log-y"),
    (["schedule", "--list", "cosine(steps=1)"], "--list takes no SPEC"),
]

TOML = [
    ("deep.toml", DEEP, "nested too deep"),
    ("deep_table.toml", DEEP_TABLE, "nested too deep"),
    ("bad.toml", "x = = 1\n", "not valid TOML"),
    ("unknown.toml", "colour = 'red'\n", "unknown key 'colour'"),
    ("badtype.toml", "[train]\nepochs = 'ten'\n", "train.epochs must be"),
    ("badlr.toml", "[optimizer]\nlr = 1e39\n", "optimizer.lr must be at most 1e12"),
    ("badschedule.toml", "schedule = 'cosine(steps=1e-310, periodic=true)'\n", "steps must be"),
    ("badmodel.toml", "[task]\nmodel = 'mlp(widths=64)'\n", "widths must be"),
    ("badopt.toml", "[optimizer]\nname = 'sgd(weight_decay=1e308)'\n", "weight_decay must be at most 1e12"),
    ("badsection.toml", "train = 3\n", "train must be a table"),
    ("binary.toml", "\udcff", "not valid TOML"),
]


def _rows() -> list[tuple[str, list[str], dict[str, str], str]]:
    rows: list[tuple[str, list[str], dict[str, str], str]] = []
    for spec, expected in SCHEDULES:
        rows.append((f"schedule:{spec}", [*S, spec, "--steps", "10"], {}, expected))
    for spec, expected in SCHEDULES[:12]:
        rows.append((f"train-schedule:{spec}", [*T, "--schedule", spec], {}, expected))
    for spec, expected in OPTIMIZERS:
        rows.append((f"optimizer:{spec}", [*T, "--optimizer", spec], {}, expected))
    for spec, expected in MODELS:
        rows.append((f"model:{spec}", [*T, "--model", spec], {}, expected))
    for spec, expected in DATASETS:
        rows.append((f"dataset:{spec}", [*T, "--dataset", spec], {}, expected))
    for argv, expected in CLI:
        rows.append((f"cli:{' '.join(argv)}", argv, {}, expected))
    for name, text, expected in TOML:
        rows.append((f"toml:{name}", ["train", name], {name: text}, expected))
    rows += [
        ("find-lr:lenet-digits", [*F, "--model", "lenet"], {}, "lenet needs images of at least 12x12"),
        ("find-lr:lr", [*F, "--lr", "1e39", "--param", "momentum"], {}, "at most 1e12"),
        ("find-lr:optimizer", [*F, "--optimizer", "adam(eps=1e39)"], {}, "eps must be at most 1e12"),
        ("compare:lr", ["compare", "--lr", "1e39"], {}, "--lr must be at most 1e12"),
        ("compare:model", ["compare", "--model", "mlp(widths=64)"], {}, "widths must be"),
        (
            "gzip-bomb",
            [*T, "--dataset", "idx(images='bomb-images.gz', labels='bomb-labels.gz', test_size=10)"],
            {},
            "bomb",
        ),
    ]
    for kind in ("foreign", "truncated", "architecture", "empty", "not-a-dict"):
        rows.append((f"checkpoint:{kind}", [*T, "--resume"], {"checkpoint": kind}, "checkpoint"))
    return rows


ROWS = _rows()


def _idx_bomb(folder: Path) -> None:
    """An IDX file whose header declares 10**6 images of 4000x4000 pixels (16 TB), in a few bytes."""
    header = bytes([0, 0, 8, 3]) + (10**6).to_bytes(4, "big") + (4000).to_bytes(4, "big") * 2
    with gzip.open(folder / "bomb-images.gz", "wb") as file:
        file.write(header + bytes(1024))
    labels = bytes([0, 0, 8, 1]) + (10**6).to_bytes(4, "big")
    with gzip.open(folder / "bomb-labels.gz", "wb") as file:
        file.write(labels + bytes(1024))


def _damage(folder: Path, kind: str) -> None:
    """Start a run (2 epochs planned, 1 done), then damage its checkpoint.pt."""
    assert main([*T, "--epochs", "1"]) == 0
    (summary,) = folder.rglob("summary.json")
    run = summary.parent
    summary.unlink()  # a started run: --resume continues it
    checkpoint = run / "checkpoint.pt"
    damage: dict[str, Callable[[], object]] = {
        "foreign": lambda: torch.save({"weights": torch.zeros(3)}, checkpoint),
        "truncated": lambda: checkpoint.write_bytes(checkpoint.read_bytes()[:200]),
        "architecture": lambda: _other_architecture(checkpoint),
        "empty": lambda: checkpoint.write_bytes(b""),
        "not-a-dict": lambda: torch.save([1, 2, 3], checkpoint),
    }
    damage[kind]()


def _other_architecture(checkpoint: Path) -> None:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved["model"] = {
        name: torch.zeros(*tensor.shape[:-1], tensor.shape[-1] + 1) for name, tensor in saved["model"].items()
    }
    torch.save(saved, checkpoint)


def _run_folders(folder: Path) -> set[Path]:
    return {path.parent for path in folder.rglob("config.json")} | {
        path.parent for path in folder.rglob("checkpoint.pt")
    }


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    row: tuple[str, list[str], dict[str, str], str],
) -> None:
    _, argv, files, expected = row
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        if name != "checkpoint":
            (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    if "checkpoint" in files:
        _damage(tmp_path, files["checkpoint"])
    if any("bomb" in arg for arg in argv):
        _idx_bomb(tmp_path)
    capsys.readouterr()
    before = {path: sorted(p.name for p in path.iterdir()) for path in _run_folders(tmp_path)}

    code = main(argv)

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("lrlab: error:")]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert expected in errors[0], errors[0]
    after = {path: sorted(p.name for p in path.iterdir()) for path in _run_folders(tmp_path)}
    assert after == before  # no new run folder, and no file added to an old one
    for path in after:
        assert not (path / "config.json").exists() or (path / "checkpoint.pt").exists()


def test_the_table_is_large() -> None:
    assert len(ROWS) >= 100
