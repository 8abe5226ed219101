"""The ``lrlab`` command: in-process ``main([...])`` runs, and a few real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lrlab import __version__
from lrlab.cli import COMMANDS, main
from lrlab.commands.schedule import MAX_STEPS, table_steps
from lrlab.errors import LrlabError
from lrlab.schedules import FAMILIES, parse, signature

SPEC = "warmup(steps=5, start=0.0) >> cosine(steps=15, end=0.0333)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEAVY = {"torch", "matplotlib", "optuna"}
MODULES_PROBE = """
import contextlib, io, json, sys
from lrlab.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def run_lrlab(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m lrlab ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "lrlab", *args], capture_output=True, text=True, timeout=60, check=False
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- output formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("lr", [None, 0.3])
def test_csv_has_the_exact_header_and_values(capsys: pytest.CaptureFixture[str], lr: float | None) -> None:
    extra = ["--lr", str(lr)] if lr is not None else []
    code, out, err = run_main(capsys, "schedule", SPEC, "--steps", "25", "--format", "csv", *extra)
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header == ("step,lr" if lr is not None else "step,multiplier")
    schedule = parse(SPEC)
    assert [int(row.split(",")[0]) for row in rows] == list(range(25))
    expected = [(lr if lr is not None else 1.0) * schedule(step) for step in range(25)]
    assert [float(row.split(",")[1]) for row in rows] == expected


@pytest.mark.parametrize("lr", [None, 0.1])
def test_json_is_one_object_with_spec_steps_lr_values(
    capsys: pytest.CaptureFixture[str], lr: float | None
) -> None:
    extra = ["--lr", str(lr)] if lr is not None else []
    code, out, _ = run_main(capsys, "schedule", SPEC, "--steps", "30", "--format", "json", *extra)
    assert code == 0
    data = json.loads(out)
    schedule = parse(SPEC)
    assert data["spec"] == str(schedule)
    assert data["steps"] == 30
    assert data["lr"] == lr
    assert data["values"] == [(lr or 1.0) * value for value in schedule.values(30)]


def test_table_shows_every_step_of_a_short_schedule_and_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "schedule", SPEC, "--steps", "20", "--lr", "0.3")
    assert code == 0
    assert f"spec: {parse(SPEC)}" in out
    assert "multiplier" in out
    assert " lr " in out
    assert "0.296831" in out  # 0.3 * schedule(6)
    assert "every" not in out  # nothing left out


def test_table_keeps_the_spec_text_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    spec = "multistep(milestones=[3, 6], gamma=0.5)"  # brackets are not rich markup here
    code, out, _ = run_main(capsys, "schedule", spec, "--steps", "8")
    assert code == 0
    assert f"spec: {spec}" in out


def test_long_table_is_abbreviated_with_first_and_last_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "schedule", "cosine(steps=1000)", "--steps", "1000")
    assert code == 0
    assert len(out.splitlines()) < 40
    assert "│    0 │" in out
    assert "│  999 │" in out
    assert "every 50 steps of 1000" in out


def test_every_sets_the_table_stride(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "schedule", "cosine(steps=100)", "--steps", "100", "--every", "40")
    assert code == 0
    steps = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert steps == ["0", "40", "80", "99"]


@pytest.mark.parametrize(
    ("steps", "every", "shown", "stride"),
    [
        (1, None, [0], 1),
        (60, None, list(range(60)), 1),
        (100, None, [*range(0, 100, 5), 99], 5),
        (11, 3, [0, 3, 6, 9, 10], 3),
        (10, 3, [0, 3, 6, 9], 3),
        (10_000_000, None, [*range(0, 10_000_000, 500_000), 9_999_999], 500_000),
    ],
)
def test_table_steps(steps: int, every: int | None, shown: list[int], stride: int) -> None:
    assert table_steps(steps, every) == (shown, stride)


# --- plots ------------------------------------------------------------------------------------


def test_plot_writes_a_png_and_still_prints(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "curve.png"
    code, out, err = run_main(
        capsys, "schedule", SPEC, "--steps", "20", "--format", "csv", "--plot", str(target)
    )
    assert code == 0
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert out.startswith("step,multiplier\n")
    assert err == f"lrlab: wrote {target}\n"


def test_plot_writes_an_svg(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "curve.svg"
    code, _, _ = run_main(capsys, "schedule", SPEC, "--steps", "20", "--plot", str(target), "--log-y")
    assert code == 0
    assert "<svg" in target.read_text()


@pytest.mark.parametrize("name", ["curve.pdf", "curve"])
def test_bad_plot_suffix_fails_before_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    code, out, err = run_main(capsys, "schedule", SPEC, "--steps", "20", "--plot", str(tmp_path / name))
    assert (code, out) == (2, "")
    assert err.startswith("lrlab: error: --plot must end in .png or .svg")
    assert ("'.pdf'" if name.endswith(".pdf") else "no suffix") in err
    assert list(tmp_path.iterdir()) == []


def test_plot_into_a_missing_directory_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(
        capsys, "schedule", SPEC, "--steps", "5", "--plot", str(tmp_path / "no" / "c.png")
    )
    assert code == 2
    assert "existing directory" in err


# --- list, version, help ----------------------------------------------------------------------


def test_list_prints_every_signature_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "schedule", "--list")
    assert code == 0
    for family in FAMILIES.values():
        assert signature(family) in out
    assert "end + (start - end) * (1 + cos(pi * min(t, steps) / steps)) / 2" in out


def test_list_takes_no_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "schedule", SPEC, "--list")
    assert code == 2
    assert "--list" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "--version") == (0, f"lrlab {__version__}\n", "")


@pytest.mark.parametrize("args", [["--help"], ["schedule", "--help"]])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run_main(capsys, *args)
    assert code == 0
    assert "examples:" in out
    assert "lrlab schedule" in out


def test_every_registered_command_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "--help")
    for command in COMMANDS:
        assert command.name in out
        assert command.summary in out


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps must be an integer from 1 to"),
        (["--steps", "-3"], "--steps must be an integer from 1 to"),
        (["--steps", str(MAX_STEPS + 1)], f"got --steps={MAX_STEPS + 1}"),
        ([], "--steps N is needed"),
        (["--steps", "5", "--lr", "0"], "--lr must be a finite number > 0"),
        (["--steps", "5", "--lr", "nan"], "--lr must be a finite number > 0"),
        (["--steps", "5", "--every", "0"], "--every must be an integer >= 1"),
        (["--steps", "5", "--every", "2", "--format", "csv"], "--every shortens tables only"),
        (["--steps", "5", "--log-y"], "add --plot"),
    ],
)
def test_bad_options_give_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, "schedule", SPEC, *args)
    assert (code, out) == (2, "")
    assert err.startswith("lrlab: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_missing_spec_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "schedule", "--steps", "5")
    assert code == 2
    assert "SPEC is needed" in err


@pytest.mark.parametrize("args", [[], ["schedule", SPEC, "--steps", "ten"], ["schedule", "--format", "xml"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = run_main(capsys, *args)
    assert code == 2
    assert "usage: lrlab" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    args = ["schedule", "cosin(steps=10)", "--steps", "3"]
    with pytest.raises(LrlabError, match="did you mean 'cosine'"):
        main(["--debug", *args] if where == "before" else [*args, "--debug"])


# --- real processes ---------------------------------------------------------------------------


def test_module_entry_point_prints_the_version() -> None:
    result = run_lrlab("--version")
    assert (result.returncode, result.stdout) == (0, f"lrlab {__version__}\n")


def test_bad_spec_is_one_stderr_line_with_a_suggestion() -> None:
    result = run_lrlab("schedule", "cosin(steps=10)", "--steps", "10")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lrlab: error: ")
    assert "did you mean 'cosine'" in lines[0]


def test_csv_from_a_real_process() -> None:
    result = run_lrlab("schedule", SPEC, "--steps", "10", "--format", "csv", "--lr", "0.5")
    assert result.returncode == 0
    schedule = parse(SPEC)
    assert result.stdout == "step,lr\n" + "".join(f"{i},{0.5 * schedule(i)!r}\n" for i in range(10))


def test_a_closed_pipe_ends_quietly() -> None:
    args = ["schedule", "cosine(steps=10)", "--steps", "200000", "--format", "csv"]
    argv = [sys.executable, "-m", "lrlab", *args]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b"step,multiplier\n"
        process.stdout.close()
        assert process.wait(timeout=60) == 1
        assert process.stderr.read() == b""


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["--help"], set()),
        (["schedule", SPEC, "--steps", "100", "--format", "csv"], set()),
        (["schedule", SPEC, "--steps", "100", "--format", "json"], set()),
        (["schedule", SPEC, "--steps", "100"], {"rich"}),
    ],
)
def test_startup_imports_no_heavy_module(args: list[str], allowed: set[str]) -> None:
    probe = [sys.executable, "-c", MODULES_PROBE, json.dumps(args)]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert set(report["modules"]) & (HEAVY | {"rich"}) <= allowed
