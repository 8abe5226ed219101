"""``lrlab report`` on hand-edited run folders: every damage is one line naming the file (exit 2,
no traceback) or a tolerated value the page marks — never a traceback, never a hang."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lrlab.cli import main
from tests.report.conftest import FAKE, write_comparison

RUN = Path("runs") / "cosine" / "seed1"


def _edit_json(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        data = json.loads((run / name).read_text(encoding="utf-8"))
        change(data)
        (run / name).write_text(json.dumps(data), encoding="utf-8")

    return edit


def _write(name: str, text: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        (run / name).write_text(text, encoding="utf-8")

    return edit


def _cell(column: str, value: str, line: int = 1) -> Callable[[Path], None]:
    """Replace one cell of metrics.csv (``line`` 1 is the first row after the header)."""

    def edit(run: Path) -> None:
        rows = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()
        header = rows[0].split(",")
        cells = rows[line].split(",")
        cells[header.index(column)] = value
        rows[line] = ",".join(cells)
        (run / "metrics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    return edit


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


ERRORS = {
    "text cell": (_cell("val_loss", "oops"), "metrics.csv, line 2: column 'val_loss' holds 'oops'"),
    "text epoch": (_cell("epoch", "first"), "column 'epoch' holds 'first'"),
    "nan epoch": (_cell("epoch", "nan"), "epoch must be a whole number"),
    "fractional epoch": (_cell("epoch", "1.5"), "epoch must be a whole number"),
    "huge epoch": (_cell("epoch", "1e300"), "epoch must be a whole number"),
    "epochs 10**9": (
        _edit_json("config.json", _set(("experiment", "train", "epochs"), 10**9)),
        "experiment.train.epochs must be a whole number in [1, 1000000], got 1000000000",
    ),
    "epochs text": (
        _edit_json("config.json", _set(("experiment", "train", "epochs"), "ten")),
        "experiment.train.epochs must be a whole number",
    ),
    "epochs 0": (
        _edit_json("config.json", _set(("experiment", "train", "epochs"), 0)),
        "experiment.train.epochs must be a whole number",
    ),
    "interval": (
        _edit_json("config.json", _set(("experiment", "train", "interval"), "hour")),
        "interval must be 'step' or 'epoch'",
    ),
    "schedule": (
        lambda run: [
            _edit_json("config.json", _set(("experiment", "schedule"), "cosin(steps=3)"))(seed)
            for seed in (run, run.parent / "seed0")
        ],
        "cosin",
    ),
    "truncated config": (_write("config.json", '{"experiment": {"train"'), "config.json: not valid JSON"),
    "binary config": (
        lambda run: (run / "config.json").write_bytes(b"\xff\xfe\x00"),
        "config.json: cannot read",
    ),
    "text in summary": (
        _edit_json("summary.json", _set(("best", "val_loss"), "low")),
        "summary.json: best.val_loss must be a number, got 'low'",
    ),
    "text test metric": (
        _edit_json("summary.json", _set(("test",), {"test_acc": [1]})),
        "test.test_acc must be a number",
    ),
    "summary list": (_write("summary.json", "[]"), "summary.json: expected a JSON object"),
    "empty summary": (_write("summary.json", ""), "summary.json: not valid JSON"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_damage_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    edit, message = ERRORS[case]
    root = write_comparison(tmp_path / "cmp", FAKE)
    edit(root / RUN)
    began = time.perf_counter()
    code = main(["report", str(root)])
    out, err = capsys.readouterr()
    assert time.perf_counter() - began < 30
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    assert message in err
    assert case == "schedule" or str(root / RUN) in err


TOLERATED = {
    "nan cell": _cell("val_loss", "nan", 2),
    "inf cell": _cell("train_loss", "inf", 1),
    "-inf cell": _cell("val_acc", "-inf", 2),
    "empty cell": _cell("val_acc", "", 1),
    "huge step count": _cell("step", "1e300", 2),
    "monitor as text": _edit_json("summary.json", _set(("monitor",), "val_loss")),
    "data as list": _edit_json("config.json", _set(("data",), [1, 2])),
    "versions as list": _edit_json("config.json", _set(("versions",), [1, 2])),
    "task as text": _edit_json("config.json", _set(("experiment", "task"), "digits")),
    "nan in summary": _write(
        "summary.json", '{"best": {"val_loss": NaN, "epoch": 1}, "final": {"val_loss": Infinity}}'
    ),
    "lr inf": _edit_json("config.json", _set(("experiment", "optimizer", "lr"), 1e308 * 10)),
}


@pytest.mark.parametrize("case", list(TOLERATED))
def test_odd_values_are_tolerated_and_the_page_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    root = write_comparison(tmp_path / "cmp", FAKE)
    TOLERATED[case](root / RUN)
    began = time.perf_counter()
    code = main(["report", str(root)])
    out, err = capsys.readouterr()
    assert time.perf_counter() - began < 60
    assert code == 0, err
    assert out.strip() == str(root / "report.html") and "Traceback" not in err
    page = (root / "report.html").read_text(encoding="utf-8")
    if case.endswith(" cell") and case != "empty cell":
        assert "hold nan or inf" in page  # marked on the page, left out of the curves


def test_a_long_run_is_previewed_from_samples_quickly(tmp_path: Path) -> None:
    """A million planned epochs of 10 steps: the LR preview samples the schedule, it does not
    evaluate ten million steps."""
    from lrlab.report.curves import MAX_POINTS, lr_preview
    from lrlab.report.runs import load_runs

    root = write_comparison(tmp_path / "cmp", FAKE)
    _edit_json("config.json", _set(("experiment", "train", "epochs"), 1_000_000))(root / RUN)
    record = next(r for r in load_runs(root) if r.path == root / RUN)
    began = time.perf_counter()
    xs, ys = lr_preview(record)
    assert time.perf_counter() - began < 10
    assert len(xs) == len(ys) <= MAX_POINTS + 1 and xs[-1] == 1_000_000
    assert lr_preview(record, 3)[0][-1] == 3  # the report shows the epochs the runs trained
